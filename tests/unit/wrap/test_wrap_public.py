"""The package's public surface, pinned: other parts and users import these names."""

from __future__ import annotations

import wrap
from wrap import cli, errors


def test_public_names():
    assert sorted(wrap.__all__) == sorted([
        "DEFAULT_PREFIXES", "BadSettingError", "FuseMissingError", "Host", "ImageMissingError",
        "NoImageError", "NoRuntimeError", "Options", "Plan", "PrrteNotFoundError", "WrapError",
        "build", "detect", "forwarded_env",
    ])


def test_every_error_has_its_own_status_outside_the_runtimes():
    classes: list[type[errors.WrapError]] = [errors.WrapError,
                                             *errors.WrapError.__subclasses__()]
    statuses = [cli.EXIT_STATUS[cls] for cls in classes]
    assert len(set(statuses)) == len(statuses) == 7
    assert not {125, 126, 127} & set(statuses)


def test_an_error_subclass_the_cli_does_not_list_gets_its_parents_status(capsys):
    class Odd(errors.NoImageError):
        pass

    assert cli._report(Odd("odd")) == cli.EXIT_STATUS[errors.NoImageError]
    assert capsys.readouterr().err == "wrap-container: odd\n"
