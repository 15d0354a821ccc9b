"""A reader that takes parameters one by one, converts and checks them, and names the param.

Every parameter a handler understands is taken with one call; `done()` then rejects whatever is
left as `parameter_unknown`. So a typo never slips through silently and no handler forgets to
validate: what was not taken was not accepted.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from tally.domain.metadata import apply_metadata  # noqa: F401 — re-exported for callers of the reader
from tally.errors import InvalidRequest, invalid, missing, unknown

INT64_MAX = 2**63 - 1
_INT = re.compile(r"-?[0-9]{1,19}")
_DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,12})?")
_MISSING = object()
# Aliases: Params has methods named str/int/bool/list, which shadow the builtins in annotations.
_str: TypeAlias = str
_int: TypeAlias = int
_bool: TypeAlias = bool
_list: TypeAlias = list


class Params:
    def __init__(self, data: dict[_str, Any], prefix: _str = "") -> None:
        self._data = dict(data)
        self._prefix = prefix

    # -- names -------------------------------------------------------------------------------
    def path(self, name: _str) -> str:
        return f"{self._prefix}[{name}]" if self._prefix else name

    def has(self, name: _str) -> bool:
        return name in self._data

    def raw(self, name: _str) -> Any:
        """The value of `name` as sent, without taking it (None when absent or null)."""
        return self._data.get(name)

    def is_hash(self, name: _str) -> bool:
        """Whether `name` was sent as a hash (`created[gte]=…`) rather than a value (`created=…`)."""
        return isinstance(self._data.get(name), dict)

    def _take(self, name: _str, required: _bool) -> Any:
        value = self._data.pop(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise missing(self.path(name))
            return _MISSING
        return value

    # -- scalars -----------------------------------------------------------------------------
    def str(
        self,
        name: _str,
        *,
        required: _bool = False,
        max_length: _int = 5000,
        choices: tuple[_str, ...] | None = None,
        empty_ok: _bool = False,
    ) -> _str | None:
        """A string param; '' means "not given" unless empty_ok (then it is returned as '')."""
        value = self._take(name, required)
        if value is _MISSING:
            return None
        param = self.path(name)
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(param, f"Invalid string: {param} must be a string.")
            value = str(value)
        if value == "" and not empty_ok:
            if required:
                raise InvalidRequest(
                    f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
                    f"unset a parameter; however '{param}' cannot be unset.",
                    code="parameter_invalid_empty",
                    param=param,
                )
            return None
        if len(value) > max_length:
            raise invalid(param, f"Invalid {param}: must be at most {max_length} characters.")
        if "\x00" in value:
            raise invalid(param, f"Invalid {param}: must not contain NUL characters.")
        if choices is not None and value not in choices:
            raise invalid(param, f"Invalid {param}: must be one of {', '.join(choices)}.")
        return value

    def int(
        self, name: _str, *, required: _bool = False, min: _int | None = None, max: _int = INT64_MAX
    ) -> _int | None:
        value = self._take(name, required)
        if value is _MISSING or value == "":
            if value == "" and required:
                raise missing(self.path(name))
            return None
        param = self.path(name)
        if isinstance(value, bool) or not isinstance(value, int | str) or not _INT.fullmatch(str(value)):
            raise invalid(param, f"Invalid integer: {value!r}", code="parameter_invalid_integer")
        number = int(value)
        if (min is not None and number < min) or number > max:
            low = "" if min is None else f" at least {min} and"
            raise invalid(
                param, f"Invalid {param}: must be{low} at most {max}.", code="parameter_invalid_integer"
            )
        return number

    def decimal(self, name: _str, *, required: _bool = False, min: Decimal | None = None) -> Decimal | None:
        """A decimal string with at most 12 decimal places (Stripe's `*_decimal` params)."""
        value = self._take(name, required)
        if value is _MISSING or value == "":
            return None
        param = self.path(name)
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if not _DECIMAL.fullmatch(text):
            raise invalid(param, f"Invalid decimal: {value!r} (at most 12 decimal places).")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards
            raise invalid(param, f"Invalid decimal: {value!r}") from exc
        if min is not None and number < min:
            raise invalid(param, f"Invalid {param}: must be at least {min}.")
        return number

    def bool(self, name: _str, *, required: _bool = False) -> _bool | None:
        value = self._take(name, required)
        if value is _MISSING or value == "":
            return None
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise invalid(self.path(name), f"Invalid boolean: {value!r}", code="parameter_invalid_boolean")

    # -- structures --------------------------------------------------------------------------
    def sub(self, name: _str, *, required: _bool = False) -> Params | None:
        value = self._take(name, required)
        if value is _MISSING or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid(self.path(name), f"Invalid object: {self.path(name)} must be a hash.")
        return Params(value, self.path(name))

    def list(self, name: _str, *, required: _bool = False, max_items: _int = 100) -> _list[Any] | None:
        value = self._take(name, required)
        if value is _MISSING or value == "":
            return None
        param = self.path(name)
        if not isinstance(value, list):
            raise invalid(param, f"Invalid array: {param} must be an array.")
        if len(value) > max_items:
            raise invalid(param, f"Invalid array: {param} may have at most {max_items} items.")
        return value

    def sublist(self, name: _str, *, required: _bool = False, max_items: _int = 100) -> _list[Params] | None:
        items = self.list(name, required=required, max_items=max_items)
        if items is None:
            return None
        out: _list[Params] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid(f"{self.path(name)}[{i}]", f"Invalid object: {self.path(name)}[{i}]")
            out.append(Params(item, f"{self.path(name)}[{i}]"))
        return out

    def strings(self, name: _str, *, max_items: _int = 100, max_length: _int = 200) -> _list[_str] | None:
        items = self.list(name, max_items=max_items)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item or len(item) > max_length:
                raise invalid(f"{self.path(name)}[{i}]", f"Invalid string in {self.path(name)}.")
        return items

    def metadata(self, name: _str = "metadata") -> dict[_str, _str | None] | None:
        """Metadata updates: {key: value, key: None (delete)}; `metadata=` clears all ({"*": None})."""
        value = self._take(name, False)
        if value is _MISSING:
            return None
        param = self.path(name)
        if value == "":
            return {"*": None}
        if not isinstance(value, dict):
            raise invalid(param, "Invalid metadata: must be a hash of string keys to string values.")
        if len(value) > 50:
            raise invalid(param, "Invalid metadata: at most 50 keys.")
        out: dict[_str, _str | None] = {}
        for key, item in value.items():
            if not key or len(key) > 40 or "[" in key or "]" in key or "\x00" in key:
                raise invalid(f"{param}[{key}]", "Metadata keys must be 1–40 characters without brackets.")
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise invalid(f"{param}[{key}]", "Metadata values must be strings.")
            text = str(item)
            if "\x00" in text:
                raise invalid(f"{param}[{key}]", "Metadata values must not contain NUL characters.")
            if len(text) > 500:
                raise invalid(f"{param}[{key}]", "Metadata values must be at most 500 characters.")
            out[key] = text if text != "" else None
        return out

    def expand(self) -> _list[_str]:
        """The `expand[]` paths as strings (at most 20). v1 handlers never see `expand`: the
        pipeline takes and applies it on every route (`api/expand.py`), so their call is a no-op."""
        return self.strings("expand", max_items=20) or []

    def ignore(self, *names: _str) -> None:
        for name in names:
            self._data.pop(name, None)

    def done(self) -> None:
        """Reject every parameter nobody took."""
        for name in self._data:
            raise unknown(self.path(name))
