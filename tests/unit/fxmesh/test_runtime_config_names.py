"""Configuration names: one prefix rule, old names still read, one table that cannot drift.

What an operator relies on: ``FXMESH_<NAME>`` for a shared setting and ``FXMESH_<SERVICE>_<NAME>``
for one service's own, a deployment written before the rule still starting as it did, and
docs/configuration.md listing exactly the variables the services read.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from fxmesh import configdoc
from fxmesh.config import Settings, load_settings, variable_names
from oms.config import OmsSettings

ROOT = Path(__file__).resolve().parents[3]
VARIABLE = re.compile(r"\bFXMESH_[A-Z0-9_]+")


def _all_subclasses(cls: type[Settings]) -> set[type[Settings]]:
    subs = set(cls.__subclasses__())
    return subs.union(*(_all_subclasses(s) for s in subs))


def test_shared_settings_when_read_then_named_fxmesh_and_the_field() -> None:
    for field in Settings.model_fields:
        assert variable_names(Settings, field) == (f"FXMESH_{field.upper()}",)


def test_service_settings_when_read_then_named_after_their_service() -> None:
    for service, cls in configdoc.settings_classes().items():
        for field in cls.model_fields:
            if field in Settings.model_fields:
                assert variable_names(cls, field) == (f"FXMESH_{field.upper()}",)
            else:
                assert variable_names(cls, field)[0].startswith(f"FXMESH_{service.upper()}_")


def test_every_variable_when_listed_then_no_two_settings_share_a_name() -> None:
    rows = configdoc.variables()
    names = [v.name for v in rows]
    old_names = [o for v in rows for o in v.old_names]

    assert len(set(names)) == len(names)
    assert len(set(old_names)) == len(old_names)
    assert not set(names) & set(old_names)


def test_settings_classes_when_the_tree_is_scanned_then_each_is_in_the_table() -> None:
    for path in [*ROOT.glob("*/config.py"), *ROOT.glob("*/*/config.py")]:
        module = path.relative_to(ROOT).with_suffix("").parts
        if all(part.isidentifier() for part in module):  # not .venv/...
            importlib.import_module(".".join(module))

    assert _all_subclasses(Settings) == set(configdoc.settings_classes().values())


def test_configuration_doc_when_compared_with_the_classes_then_lists_their_variables() -> None:
    assert configdoc.committed() == configdoc.render(), "run: python -m fxmesh.configdoc"


def test_old_name_when_set_then_still_read_with_a_notice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FXMESH_OMS_OUTBOX_POLL_SECONDS", raising=False)
    monkeypatch.setenv("FXMESH_OUTBOX_POLL_SECONDS", "3.5")

    settings = load_settings(OmsSettings)

    assert settings.outbox_poll_seconds == 3.5
    err = capsys.readouterr().err
    assert "FXMESH_OUTBOX_POLL_SECONDS is now named FXMESH_OMS_OUTBOX_POLL_SECONDS" in err


def test_new_and_old_name_when_both_set_then_the_new_one_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FXMESH_OUTBOX_POLL_SECONDS", "3.5")
    monkeypatch.setenv("FXMESH_OMS_OUTBOX_POLL_SECONDS", "0.5")

    assert OmsSettings().outbox_poll_seconds == 0.5


def test_load_settings_when_bad_value_under_either_name_then_exits_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FXMESH_MARKS_INTERVAL_SECONDS", "soon")

    with pytest.raises(SystemExit) as exit_info:
        load_settings(OmsSettings)

    assert exit_info.value.code == 2
    assert "FXMESH_OMS_MARKS_INTERVAL_SECONDS: Input should be" in capsys.readouterr().err


def test_field_names_when_passed_in_code_then_still_accepted() -> None:
    settings = OmsSettings(outbox_poll_seconds=7.0, oms_max_in_flight=3)

    assert (settings.outbox_poll_seconds, settings.oms_max_in_flight) == (7.0, 3)


def test_project_files_when_scanned_then_none_uses_an_old_name() -> None:
    old_names = {o for v in configdoc.variables() for o in v.old_names}
    roots = ["README.md", "deploy", "docs", "bench", "bbook", "fxmesh", "tests"]
    roots += sorted({ref.split(".")[0] for _, ref in configdoc.SETTINGS_CLASSES})
    allowed = {configdoc.DOC, Path(__file__).resolve()}
    found: list[str] = []
    for root in roots:
        paths = [ROOT / root] if (ROOT / root).is_file() else (ROOT / root).rglob("*")
        for path in paths:
            if path in allowed or not path.is_file() or path.suffix in {".png", ".pyc"}:
                continue
            text = path.read_text(errors="replace")
            found += [
                f"{path.relative_to(ROOT)}: {v}" for v in VARIABLE.findall(text) if v in old_names
            ]

    assert not found, "set the new names (docs/configuration.md)"
