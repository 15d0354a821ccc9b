"""The whole local stack in one object: moto, the tables and queues, the API keys, the gateway, the
template's schedules and queue pollers (`tally_local.triggers`), and moto's state kept on disk
between runs (`tally_local.state`)."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tally_local import aws, sns_delivery, state, streams, triggers, wake
from tally_local.gateway import Gateway
from tally_local.template import ROOT, Template, load

KEY_FILE = ROOT / ".tally" / "local-key"


def default_keys() -> list[str]:
    """TALLY_API_KEY (comma-separated, one account each), else a key generated once and kept."""
    configured = [k.strip() for k in os.environ.get("TALLY_API_KEY", "").split(",") if k.strip()]
    if configured:
        return configured
    if KEY_FILE.exists():
        return [KEY_FILE.read_text().strip()]
    from tally.api.auth import new_account

    _, key = new_account()
    KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)
    return [key]


@dataclass
class Stack:
    port: int = 4242
    keys: list[str] = field(default_factory=list)
    template: Template = field(default_factory=load)
    moto: aws.MotoServer | None = None
    gateway: Gateway | None = None
    accounts: dict[str, str] = field(default_factory=dict)
    triggers: bool = True  # fire schedules and poll queues (tests driving handlers turn it off)
    # Where moto's state is kept between runs (tally_local.state); None: in memory only.
    state_path: Path | None = None
    fresh: bool = False  # start empty: an existing state file is moved aside, then replaced
    restored: bool = False  # whether start() loaded a saved state
    _stop: threading.Event = field(default_factory=threading.Event)
    _streams: list[streams.StreamPoller] = field(default_factory=list)
    _saver: state.Saver | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port if self.gateway else self.port}"

    def start(self) -> Stack:
        sns_delivery.install()  # email → the mailbox folder, http(s) → POSTs (before moto serves)
        self.moto = aws.MotoServer()
        saved: state.StateFile | None = None
        checkpoints: dict[str, str] = {}
        if self.state_path is not None:
            saved = state.StateFile(self.state_path, self.moto.lock)
            if self.fresh:
                saved.set_aside()
            else:
                extras = saved.load()  # raises StateError (with what to do) on an unreadable file
                self.restored = extras is not None
                checkpoints = (extras or {}).get("stream_checkpoints", {})
        self.moto.start()
        names = aws.table_names(self.template)
        aws.configure_environment(self.template, self.moto.url, names)
        from botocore.exceptions import ClientError

        from tally.store.aws import dynamodb, sns, sqs

        try:
            changed = aws.table_differences(self.template, names, dynamodb()) if self.restored else []
            if changed:
                raise state.StateError(
                    f"The saved local state ({self.state_path}) has tables made by an older template.yaml "
                    f"({', '.join(changed)} differ: keys or indexes). Start empty with `make run FRESH=1` "
                    f"(the old file is kept as {state.FILE_NAME}.old)."
                )
            aws.create_tables(self.template, names, dynamodb())
            queue_urls = aws.create_queues(self.template, sqs())
            topics = aws.create_topics(self.template, sns())
        except ClientError as exc:
            if not self.restored:
                raise
            raise state.StateError(  # e.g. a queue whose attributes template.yaml changed since
                f"The saved local state ({self.state_path}) does not match this version's template.yaml "
                f"({exc}). Start empty with `make run FRESH=1` (the old file is kept as "
                f"{state.FILE_NAME}.old)."
            ) from exc
        aws.configure_environment(self.template, self.moto.url, {**names, **queue_urls, **topics})
        from tally.api.auth import register_key
        from tally.clock import Clock

        for key in self.keys:
            self.accounts[key] = register_key(key, Clock.system())
        self.gateway = Gateway(self.template, self.port)
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
        if self.triggers:
            triggers.start(self.template, queue_urls, sqs(), self._stop, self.moto.next_visible)
            self._streams = streams.start(self.template, names, queue_urls, self._stop, checkpoints)
        if saved is not None:
            moto = self.moto
            self._saver = state.Saver(saved, lambda: moto.writes, self._extras, self._stop)
            self._saver.saved_at_change = -1 if self.fresh or not self.restored else moto.writes
            self._saver.start()
        # The handlers' shared logger took POWERTOOLS_LOG_LEVEL when first imported, which may have
        # been before configure_environment set it: set it again, to what the README documents.
        logging.getLogger("tally").setLevel(aws.log_level())
        return self

    def _extras(self) -> dict[str, Any]:
        return {"stream_checkpoints": {p.name: p.checkpoint for p in self._streams if p.checkpoint}}

    def stop(self) -> None:
        self._stop.set()
        wake.BELL.ring()  # idle pollers see the stop now
        if self.gateway:
            self.gateway.shutdown()
        if self._saver:
            self._saver.final()
        if self.moto:
            self.moto.stop()
