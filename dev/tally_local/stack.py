"""The whole local stack in one object: moto, the tables, the API keys and the gateway."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from tally_local import aws
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port if self.gateway else self.port}"

    def start(self) -> Stack:
        self.moto = aws.MotoServer().start()
        names = aws.table_names(self.template)
        aws.configure_environment(self.template, self.moto.url, names)
        from tally.store.aws import dynamodb

        aws.create_tables(self.template, names, dynamodb())
        from tally.api.auth import register_key
        from tally.clock import Clock

        for key in self.keys:
            self.accounts[key] = register_key(key, Clock.system())
        self.gateway = Gateway(self.template, self.port)
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.gateway:
            self.gateway.shutdown()
        if self.moto:
            self.moto.stop()
