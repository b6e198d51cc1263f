"""Values layering, digests, sops decryption in memory, and redaction."""

import pytest
import yaml

from hub_ops.clients.sops import Sops
from hub_ops.deploy.values import ValuesError, load_values_files, merge_values, redact, values_digest


def test_later_layers_win_maps_merge_lists_replace():
    merged = merge_values(
        [
            {"hub": {"image": {"name": "a", "tag": "1"}, "admins": ["x", "y"]}, "keep": 1},
            {"hub": {"image": {"tag": "2"}, "admins": ["z"]}},
            {"hub": {"extra": None}},
        ]
    )
    assert merged == {"hub": {"image": {"name": "a", "tag": "2"}, "admins": ["z"], "extra": None}, "keep": 1}


def test_merge_does_not_mutate_layers():
    a = {"hub": {"x": 1}}
    merge_values([a, {"hub": {"y": 2}}])
    assert a == {"hub": {"x": 1}}


def test_digest_is_stable_and_order_independent():
    assert values_digest({"a": 1, "b": {"c": [1, 2]}}) == values_digest({"b": {"c": [1, 2]}, "a": 1})
    assert values_digest({"a": 1}) != values_digest({"a": 2})
    assert values_digest({"a": 1}).startswith("sha256:")


def test_secret_files_are_decrypted_and_layered_in_order(tmp_path, age_key):
    plain = tmp_path / "common.values.yaml"
    plain.write_text(yaml.safe_dump({"hub": {"token": "placeholder", "name": "hub"}}))
    secret = tmp_path / "enc-hub.secret.values.yaml"
    secret.write_text(yaml.safe_dump({"hub": {"token": "s3cr3t-value"}}))
    age_key.encrypt(secret)
    assert "s3cr3t-value" not in secret.read_text()
    found: set[str] = set()
    values = load_values_files([plain, secret], Sops(str(age_key.path)), tmp_path, found)
    assert values == {"hub": {"token": "s3cr3t-value", "name": "hub"}}
    assert "s3cr3t-value" in found and "placeholder" not in found


def test_wrong_key_names_the_file_not_the_content(tmp_path, age_key):
    from hub_ops_tests.fleet_repos import make_age_key

    secret = tmp_path / "enc-x.secret.values.yaml"
    secret.write_text(yaml.safe_dump({"token": "never-shown-anywhere"}))
    age_key.encrypt(secret)
    other = make_age_key(tmp_path / "other")
    with pytest.raises(ValuesError) as err:
        load_values_files([secret], Sops(str(other.path)), tmp_path)
    assert str(err.value).startswith("cannot decrypt enc-x.secret.values.yaml: sops exited 128")
    assert "never-shown-anywhere" not in str(err.value)


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "prod.values.yaml"
    bad.write_text("hub:\n  image: [unclosed\n  tag: 1\n")
    with pytest.raises(ValuesError) as err:
        load_values_files([bad], Sops(), tmp_path)
    assert str(err.value).startswith("prod.values.yaml:3: invalid YAML")


def test_values_must_be_a_mapping(tmp_path):
    bad = tmp_path / "list.values.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValuesError, match=r"^list.values.yaml: helm values must be a mapping, got list$"):
        load_values_files([bad], Sops(), tmp_path)


def test_redact_replaces_longest_secrets_first():
    assert redact("token abcdef12 and abcdef1234", {"abcdef12", "abcdef1234"}) == "token *** and ***"


def test_redact_short_secrets_as_whole_words_and_base64_forms():
    import base64

    text = (
        "cluster local-demo: password demo rejected; pin=abc. token 'abc' in demo.example.org; "
        f"data {base64.b64encode(b'abc').decode()} and {base64.b64encode(b'long-secret-value').decode()}"
    )
    out = redact(text, {"demo", "abc", "long-secret-value"})
    assert out == (
        "cluster local-demo: password *** rejected; pin=***. token '***' in demo.example.org; data *** and ***"
    )


def test_short_values_of_secret_files_are_collected_for_redaction(tmp_path, age_key):
    from hub_ops.clients.sops import Sops

    path = tmp_path / "enc-x.secret.values.yaml"
    path.write_text("db: {password: pw1, user: u}\n")
    age_key.encrypt(path)
    secrets: set[str] = set()
    load_values_files([path], Sops(str(age_key.path)), tmp_path, secrets)
    assert secrets == {"pw1", "u"}
