"""``toolfeedback doctor``: what this machine's kernel enforces for the tool sandbox."""

from __future__ import annotations

import json

from toolfeedback import hookimpl

#: Features of a strict episode process, in the order printed, with what each one means.
FEATURES = (
    ("landlock", "Landlock: reads limited to the interpreter and its libraries, writes to scratch"),
    ("seccomp", "seccomp filter: no processes, ptrace, pidfd, sockets, mounts, signals to others"),
    ("userns", "a user namespace of its own"),
    ("capabilities_dropped", "no capabilities"),
    ("disk_quota", "scratch is a size-limited tmpfs of its own"),
    ("thread_limit", "thread limit (a pids cgroup of its own)"),
)


class DoctorCommand:
    """Start a strict sandbox and report, feature by feature, what the kernel enforced."""

    name = "doctor"
    help = "check what tool isolation this kernel enforces (Landlock, seccomp, namespaces)"

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def run(self, args, pm) -> int:
        from toolfeedback.runtime.sandbox_limits import kernel_ready
        from toolfeedback.runtime.sandbox_strict import StrictSandbox

        ready, why = kernel_ready()
        report: dict = {"strict_available": ready}
        if not ready:
            report["why"] = why
        else:
            try:
                with StrictSandbox(workers=1) as box:
                    report.update(box.jail_report())
            except Exception as exc:  # noqa: BLE001 - reported, that is the point of the verb
                report.update(strict_available=False, why=str(exc))
        if args.json:
            print(json.dumps(report, indent=2, default=str))
            return 0 if report["strict_available"] else 1
        print(f"strict isolation: {'available' if report['strict_available'] else 'NOT available'}"
              + (f" ({report['why']})" if "why" in report else ""))
        for key, label in FEATURES:
            if key in report:
                value = report[key]
                ok = value is True or isinstance(value, dict) or str(value).startswith("not needed")
                detail = "" if value is True else f" {value}"
                print(f"  [{'ok' if ok else '--'}] {label}{detail}")
        template = report.get("template", {})
        if template:
            print(f"  [{'ok' if template.get('netns') is True else '--'}] network and IPC namespaces "
                  f"(no network at all){'' if template.get('netns') is True else ' ' + str(template.get('netns'))}")
            print(f"  kernel {template.get('features', {}).get('kernel', '?')}, "
                  f"Landlock ABI {template.get('features', {}).get('landlock_abi', '?')}")
        return 0 if report["strict_available"] else 1


@hookimpl
def register_commands(register):
    register(DoctorCommand())
