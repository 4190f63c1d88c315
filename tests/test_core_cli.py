import json

from toolfeedback import __version__
from toolfeedback.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"toolfeedback {__version__}"


def test_no_verb_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: toolfeedback" in out and "plugins" in out


def test_plugins_table_and_json(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["plugin", "distribution", "version"]
    assert "plugins_verb" in out
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all({"name", "distribution", "version", "hooks"} <= set(r) for r in rows)


def test_unknown_verb_is_a_usage_error(capsys):
    try:
        main(["no-such-verb"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_user_error_prints_message_not_traceback(capsys, tf_plugin_manager, monkeypatch):
    from toolfeedback import hookimpl
    from toolfeedback.contracts import Command
    from toolfeedback.errors import InputError

    class Fails(Command):
        name, help = "fails", "always fails"

        def add_arguments(self, parser):
            pass

        def run(self, args, pm):
            raise InputError("missing", path="envs.jsonl", line=17, field="$.tools[2].function.name")

    class Plugin:
        @hookimpl
        def register_commands(self, register):
            register(Fails())

    import toolfeedback.manager as manager

    real = manager.create_plugin_manager
    monkeypatch.setattr(manager, "create_plugin_manager",
                        lambda **kw: real(plugins=[Plugin()], **kw))
    assert main(["fails"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: envs.jsonl:17: $.tools[2].function.name: missing"
    assert "Traceback" not in err


def test_console_script_runs(cli):
    proc = cli("--help")
    assert proc.returncode == 0 and "TOOLFEEDBACK_BLOCK_PLUGINS" in proc.stdout
