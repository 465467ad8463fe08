"""Every RPC performs one action, and the domain's table says who may perform each."""

from __future__ import annotations

import importlib
import pkgutil

import pantau.v1

from exchange_service.api.access import AGENCY_SERVICES, PERMISSIONS, RPC_ACTIONS
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.permissions import ALLOWED_KINDS, Action, is_allowed


def _contract_rpcs() -> set[str]:
    """Every method of every service Pantau serves in the generated pantau.v1 package."""
    rpcs: set[str] = set()
    for module_info in pkgutil.iter_modules(pantau.v1.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"pantau.v1.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name in AGENCY_SERVICES:
                continue
            rpcs.update(f"/{service.full_name}/{method.name}" for method in service.methods)
    return rpcs


def test_every_rpc_of_the_contract_performs_one_action() -> None:
    assert _contract_rpcs() == set(RPC_ACTIONS)
    assert all(isinstance(action, Action) for action in RPC_ACTIONS.values())


def test_every_action_says_who_may_perform_it() -> None:
    assert set(ALLOWED_KINDS) == set(Action)


def test_is_allowed_answers_from_the_table() -> None:
    for action in Action:
        for kind in AgencyKind:
            assert is_allowed(kind, action) == (kind in ALLOWED_KINDS[action])


def test_the_rpc_permissions_are_the_table_seen_rpc_by_rpc() -> None:
    assert dict(PERMISSIONS) == {rpc: ALLOWED_KINDS[action] for rpc, action in RPC_ACTIONS.items()}
