"""The record of the call being served, shared by the interceptors of one call."""

from __future__ import annotations

from contextvars import ContextVar

from exchange_service.domain.agencies import CallRecord

current_call: ContextVar[CallRecord | None] = ContextVar("current_call", default=None)
