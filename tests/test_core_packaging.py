"""A built wheel holds all three import packages and the data files."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_wheel_contains_the_three_packages(tmp_path, repo_root):
    import shutil

    src = tmp_path / "src"
    anywhere = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", ".whl")

    def ignore(folder, names):
        # build/ and dist/ are outputs only at the top; core/build/ is the build stage
        top = {"build", "dist", "out", "tests"} if folder == str(repo_root) else set()
        return set(anywhere(folder, names)) | (top & set(names))

    shutil.copytree(repo_root, src, ignore=ignore)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("toolfeedback-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for module in ["toolfeedback/__init__.py", "toolfeedback/hookspecs.py",
                   "toolfeedback/plugins/__init__.py", "toolfeedback/plugins/plugins_verb.py",
                   "toolfeedback/contrib/__init__.py"]:
        assert module in names, module
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[toolfeedback]" in entry_points and "plugins_verb" in entry_points
    assert "toolfeedback = toolfeedback.cli:main" in entry_points

    # Installed from the wheel (not this checkout), all three packages import.
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                           "--target", str(target), str(wheel)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import toolfeedback, "
             "toolfeedback.plugins, toolfeedback.contrib, toolfeedback.plugins.plugins_verb; "
             "print(toolfeedback.__file__); print(toolfeedback.contrib.__file__)")
    proc = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith(str(target)) for line in proc.stdout.split()), proc.stdout
