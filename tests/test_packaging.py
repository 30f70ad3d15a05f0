import subprocess
import sys
import zipfile


def test_installed_wheel_finds_its_hydra_configs(tmp_path, repo):
    """The conf/ tree ships inside the wheel as ganaug.conf and composes outside a checkout."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(repo),
                    "-w", str(wheels)], check=True, capture_output=True)
    wheel = next(wheels.glob("ganaug-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ganaug/conf/train.yaml" in names and "ganaug/conf/bench/ci.yaml" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import ganaug, hydra\n"
        "from hydra import compose, initialize_config_module\n"
        "assert ganaug.__file__.startswith(%r), ganaug.__file__\n"
        "with initialize_config_module('ganaug.conf', version_base='1.3'):\n"
        "    cfg = compose('train', overrides=['data=digits'])\n"
        "print(cfg.data.name, cfg.gan._target_)\n" % str(site)
    )
    # Run from an empty directory with only the installed copy on the path: no source checkout.
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["digits", "ganaug.ConditionalGAN"]
