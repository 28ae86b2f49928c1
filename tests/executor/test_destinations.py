"""Object-storage destinations against local stores on 127.0.0.1: S3 (moto's server), GCS
(gcp-storage-emulator) and Azure Blob (Azurite), as data/stores.yaml lists them.

An object appears only complete, with its run record beside it; a failed, interrupted or
misconfigured run leaves no object and no upload in progress (Azure: no abort exists, the
staged blocks stay uncommitted), and an older object as it was. Every configuration error
comes before the export request is sent. Tests of one store's features take `s3`.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exportspec.errors import ConfigError
from exportspec.run.destinations import check_storage_options, scrub_store_secrets
from tests.conftest import RunCli, commit, default_sigint, git
from tests.executor.conftest import (
    SECRET,
    STORES,
    Reply,
    ScriptServer,
    assert_no_secret,
    copy_spec,
    python_cmd,
    subprocess_env,
)
from tests.executor.stores import AZURITE_KEY, STORE_SECRET, S3Store, Store

CASES = {case["id"]: case for case in STORES}

#: Larger than one 5 MiB part: the upload has several.
BIG = b"id,email\n" + b"".join(b"%d,user%d@example.com\n" % (i, i) for i in range(300_000))
SMALL = b"id,email\n1,a@example.com\n"
OLDER = b"older complete export\n"


def run(run_cli: RunCli, server: ScriptServer, *args: str) -> tuple[int, str]:
    result = run_cli(["run", *args, "--base-url", server.base_url, "--project-token", "tok"])
    assert_no_secret(result.stdout, result.stderr)
    assert STORE_SECRET not in result.stdout + result.stderr
    assert AZURITE_KEY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr


def test_a_run_writes_the_object_and_its_record_beside_it(
    run_cli: RunCli, server: ScriptServer, store: Store, spec: Path
) -> None:
    assert len(BIG) > 5 * 2**20  # two parts at least
    bucket = store.bucket()
    server.script(Reply(body=BIG))
    root = f"{store.scheme}://{bucket}/daily/"
    code, stderr = run(run_cli, server, str(spec), "--output-root", root)
    assert code == 0, stderr
    key = "exports/contacts.csv"  # the spec's default output.path, under the prefix
    assert store.keys(bucket) == [f"daily/{key}", f"daily/{key}.run.json"]
    assert store.get(bucket, f"daily/{key}") == BIG
    record = json.loads(store.get(bucket, f"daily/{key}.run.json"))
    assert record["output"]["path"] == f"{root}{key}"
    assert record["output"]["bytes"] == len(BIG)
    assert record["output"]["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert record["output"]["rows"] == 300_000
    if CASES[store.scheme]["versions"]:
        assert record["output"]["version_id"] == store.version(bucket, f"daily/{key}")
    assert f"to {root}{key}" in stderr
    assert store.uploads(bucket) == []
    assert not list(Path.cwd().rglob("*.csv*"))  # nothing local


def test_a_versioned_bucket_records_the_version_id(
    run_cli: RunCli, server: ScriptServer, s3: S3Store, spec: Path
) -> None:
    store = s3
    bucket = store.bucket()
    store.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    server.script(Reply(body=SMALL))
    code, stderr = run(run_cli, server, str(spec), "-o", f"s3://{bucket}/one/out.csv")
    assert code == 0, stderr
    record = json.loads(store.get(bucket, "one/out.csv.run.json"))
    head = store.client.head_object(Bucket=bucket, Key="one/out.csv")
    assert record["output"]["version_id"] == head["VersionId"]


@pytest.mark.parametrize("where", ["toml", "flag", "variable"])
def test_the_output_root_is_taken_from_each_of_its_places(
    run_cli: RunCli,
    server: ScriptServer,
    s3: S3Store,
    spec: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    store = s3
    bucket = store.bucket()
    root = f"s3://{bucket}/{where}"
    args = [str(spec)]
    if where == "toml":  # the endpoint from storage_options, not AWS_ENDPOINT_URL
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        (tmp_path / "exportspec.toml").write_text(
            "[project]\ndefault_environment = 'prod'\n"
            f"[environments.prod]\noutput_root = '{root}'\n"
            f"[environments.prod.storage_options]\nendpoint_url = '{store.endpoint}'\n"
        )
    elif where == "flag":
        args += ["--output-root", root]
    else:
        monkeypatch.setenv("EXPORTSPEC_OUTPUT_ROOT", root)
    server.script(Reply(body=SMALL))
    code, stderr = run(run_cli, server, *args)
    assert code == 0, stderr
    assert store.get(bucket, f"{where}/exports/contacts.csv") == SMALL


@pytest.mark.parametrize("retries", ["0", "1"])
def test_a_body_that_breaks_leaves_no_object_and_no_upload(
    run_cli: RunCli, server: ScriptServer, store: Store, spec: Path, retries: str
) -> None:
    bucket = store.bucket()
    store.put(bucket, "out.csv", OLDER)
    # More than one part arrives before the body breaks: parts were uploaded, then aborted.
    server.script(Reply(body=BIG, mode="truncate", cut=len(BIG) - 1000))
    url = f"{store.scheme}://{bucket}/out.csv"
    code, stderr = run(run_cli, server, str(spec), "-o", url, "--retries", retries)
    assert code == 5, stderr
    assert server.count == int(retries) + 1
    assert store.keys(bucket) == ["out.csv"]
    assert store.get(bucket, "out.csv") == OLDER
    assert store.uploads(bucket) == ([] if CASES[store.scheme]["aborts"] else ["out.csv"])


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_mid_upload_aborts_it(
    server: ScriptServer, store: Store, spec: Path, tmp_path: Path, signum: int, code: int
) -> None:
    bucket = store.bucket()
    store.put(bucket, "out.csv", OLDER)
    server.script(Reply(body=BIG, mode="stall", cut=len(BIG) // 2))  # the rest never comes
    env = subprocess_env(**store.env(), EXPORTSPEC_PART_SIZE=str(5 * 2**20))
    process = subprocess.Popen(
        python_cmd("run", str(spec), "-o", f"{store.scheme}://{bucket}/out.csv", "--base-url",
                   server.base_url, "--project-token", "t"),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=default_sigint,  # noqa: PLW1509 - it only calls signal.signal
    )  # fmt: skip
    try:
        # The upload began before the request went out. (The timeout only guards a hang.)
        assert server.stalled.wait(60), "the request never arrived"
        assert store.uploads(bucket) == ["out.csv"]
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr
    assert_no_secret(stdout, stderr)
    assert store.uploads(bucket) == ([] if CASES[store.scheme]["aborts"] else ["out.csv"])
    assert store.keys(bucket) == ["out.csv"]
    assert store.get(bucket, "out.csv") == OLDER


def test_a_rerun_of_a_record_at_the_destination_writes_beside_it(
    run_cli: RunCli, server: ScriptServer, store: Store, spec: Path
) -> None:
    bucket = store.bucket()
    server.script(Reply(body=SMALL))
    code, stderr = run(run_cli, server, str(spec), "-o", f"{store.scheme}://{bucket}/a/out.csv")
    assert code == 0, stderr
    server.script(Reply(body=SMALL + b"2,b@example.com\n"))
    result = run_cli(
        ["rerun", f"{store.scheme}://{bucket}/a/out.csv.run.json", "--base-url", server.base_url,
         "--project-token", "tok"]
    )  # fmt: skip
    assert result.exit_code == 0, result.explain()
    assert store.get(bucket, "a/out.csv") == SMALL + b"2,b@example.com\n"
    record = json.loads(store.get(bucket, "a/out.csv.run.json"))
    assert record["rerun_of"]["record"] == f"{store.scheme}://{bucket}/a/out.csv.run.json"
    assert record["rerun_of"]["output_sha256"] == hashlib.sha256(SMALL).hexdigest()
    assert json.loads(server.requests[0].body) == json.loads(server.requests[1].body)


def test_a_batch_writes_every_object_and_the_batch_record(
    run_cli: RunCli, server: ScriptServer, store: Store, tmp_path: Path
) -> None:
    bucket = store.bucket()
    specs = tmp_path / "specs"
    specs.mkdir()
    copy_spec("csv.yaml", specs)
    (specs / "second.yaml").write_text(
        (specs / "csv.yaml").read_text().replace("name: contacts", "name: second")
    )
    server.script(Reply(body=SMALL))
    root = f"{store.scheme}://{bucket}/b"
    code, stderr = run(run_cli, server, str(specs), "--output-root", root)
    assert code == 0, stderr
    keys = store.keys(bucket)
    assert [k for k in keys if not k.startswith("b/batches/")] == [
        "b/exports/contacts.csv",
        "b/exports/contacts.csv.run.json",
        "b/exports/second.csv",
        "b/exports/second.csv.run.json",
    ]
    (batch_key,) = [k for k in keys if k.startswith("b/batches/")]
    batch = json.loads(store.get(bucket, batch_key))
    assert [s["status"] for s in batch["specs"]] == ["succeeded", "succeeded"]
    assert batch["specs"][0]["output"] == f"{root}/exports/contacts.csv"
    # --resume reads the batch record from the store: nothing left to run.
    result = run_cli(["run", "--resume", f"{store.scheme}://{bucket}/{batch_key}", "--base-url",
                      server.base_url, "--project-token", "tok"])  # fmt: skip
    assert result.exit_code == 0, result.explain()
    assert server.count == 2


def test_a_missing_bucket_costs_no_export(
    run_cli: RunCli, server: ScriptServer, store: Store, spec: Path
) -> None:
    url = f"{store.scheme}://no-such-bucket-here/out.csv"
    code, stderr = run(run_cli, server, str(spec), "-o", url)
    assert code == 3, stderr
    assert "no-such-bucket-here" in stderr and "does not exist" in stderr
    assert server.count == 0


def test_missing_credentials_cost_no_export(
    run_cli: RunCli,
    server: ScriptServer,
    s3: S3Store,
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3.bucket()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, stderr = run(run_cli, server, str(spec), "-o", f"s3://{bucket}/out.csv")
    assert code == 3, stderr
    assert "AWS_ACCESS_KEY_ID" in stderr  # the fix
    assert server.count == 0


def test_a_missing_extra_names_the_install_command(
    run_cli: RunCli, server: ScriptServer, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs fails, as when absent
    code, stderr = run(run_cli, server, str(spec), "-o", "s3://bucket/out.csv")
    assert code == 3, stderr
    assert "pip install 'exportspec[s3]'" in stderr
    assert server.count == 0


def test_an_unknown_scheme_is_refused_before_anything_is_sent(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    code, stderr = run(run_cli, server, str(spec), "-o", "ftp://host/out.csv")
    assert code == 3, stderr
    assert "unknown scheme ftp://" in stderr
    assert server.count == 0
    assert list(tmp_path.iterdir()) == [spec]  # no folder named `ftp:`


def test_credentials_in_storage_options_are_refused(
    run_cli: RunCli, server: ScriptServer, spec: Path, tmp_path: Path
) -> None:
    (tmp_path / "exportspec.toml").write_text("[environments.prod.storage_options]\nsecret = 'x'\n")
    code, stderr = run(run_cli, server, str(spec), "--env", "prod")
    assert code == 3, stderr
    assert "credentials never go in exportspec.toml" in stderr
    assert server.count == 0


def test_an_anonymous_token_is_the_one_token_storage_options_take() -> None:
    check_storage_options({"token": "anon", "endpoint_url": "http://127.0.0.1:1"}, "toml")
    with pytest.raises(ConfigError, match="sets token"):
        check_storage_options({"token": "/path/to/key.json"}, "toml")


def test_store_secrets_are_scrubbed_from_messages(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_secret_access_key = from-the-file-0123456789\n")
    environ = {
        "AWS_SECRET_ACCESS_KEY": STORE_SECRET,
        "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=abcdefgh12345678",
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
    }
    text = f"a {STORE_SECRET} b AccountKey=abcdefgh12345678 c from-the-file-0123456789 {SECRET}"
    assert scrub_store_secrets(text, environ) == f"a *** b *** c *** {SECRET}"
    # The key alone, as an SDK may quote it, is masked too.
    environ["AZURE_STORAGE_CONNECTION_STRING"] = "AccountName=dev;AccountKey=abcdefgh12345678;"
    assert scrub_store_secrets("key abcdefgh12345678 refused", environ) == "key *** refused"


def test_apply_again_at_the_same_commit_finds_its_record_in_the_store(
    run_cli: RunCli, server: ScriptServer, s3: S3Store, tmp_path: Path
) -> None:
    """A CI runner's disk is gone on the second attempt: the batch record in the bucket
    says what succeeded."""
    store = s3
    bucket = store.bucket()

    git(tmp_path, "init", "-q")
    (tmp_path / "exportspec.toml").write_text("")
    commit(tmp_path, "empty")
    (tmp_path / "specs").mkdir()
    for name in ("a", "b"):
        copy_spec("csv.yaml", tmp_path / "specs").rename(tmp_path / "specs" / f"{name}.yaml")
        spec = tmp_path / "specs" / f"{name}.yaml"
        spec.write_text(spec.read_text().replace("name: contacts", f"name: {name}"))
    assert run_cli(["lock"]).exit_code == 0
    commit(tmp_path, "specs")
    refused = Reply(status=400, body=b'{"success": false, "errors": ["no"]}')
    server.script(Reply(body=SMALL), refused)
    root = f"s3://{bucket}/ci"
    connection = ("--base-url", server.base_url, "--project-token", "tok")
    first = run_cli(
        ["apply", "--since", "HEAD~1", "--output-root", root, "--jobs", "1", *connection]
    )
    assert first.exit_code == 4, first.stderr
    records = [k for k in store.keys(bucket) if k.endswith(".batch.json")]
    assert len(records) == 1

    server.script(Reply(body=SMALL))
    second = run_cli(
        ["apply", "--since", "HEAD~1", "--output-root", root, "--jobs", "1", *connection]
    )
    assert second.exit_code == 0, second.stderr
    assert server.count == 3  # b only, the second time
    assert [k for k in store.keys(bucket) if k.endswith(".batch.json")] == records
    data = json.loads(store.get(bucket, records[0]))
    assert [s["status"] for s in data["specs"]] == ["succeeded", "succeeded"]
    assert sorted(k for k in store.keys(bucket) if k.endswith(".csv")) == [
        "ci/exports/a.csv",
        "ci/exports/b.csv",
    ]


def test_a_split_export_is_assembled_into_one_object(
    run_cli: RunCli, server: ScriptServer, s3: S3Store, tmp_path: Path
) -> None:
    store = s3
    bucket = store.bucket()
    spec = tmp_path / "split.yaml"
    spec.write_text((Path(__file__).parents[2] / "specs" / "spend-tiers-split.yaml").read_text())
    server.script(Reply(body=SMALL))
    code, stderr = run(run_cli, server, str(spec), "-o", f"s3://{bucket}/split/all.csv")
    assert code == 0, stderr
    assert server.count == 4
    assert store.get(bucket, "split/all.csv") == b"id,email\n" + b"1,a@example.com\n" * 4
    record = json.loads(store.get(bucket, "split/all.csv.run.json"))
    assert [p["segment"] for p in record["parts"]] == [0, 1, 2, -1]
    assert not list(tmp_path.rglob(".*.parts"))
