"""The redaction filter masks every shape of personal data wherever a record carries it
(message, arguments, ``extra`` fields, traceback), keeps our own identifiers whole, and guards
gunicorn's loggers too."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn.glogging import SafeAtoms

from miniapp_api.logging import RedactingFilter, build_handler, redact_gunicorn_loggers

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"

# (what a line may carry, how it must come out); none of these is a real person's.
NEW_FORMS = [
    ("110101 19900307 1234", "110***********1234"),
    ("110101-19900307-123X", "110***********123X"),
    ("110101 1990 0307 1234", "110***********1234"),
    ("110101900307123", "110********7123"),  # first-generation card, 15 digits
    ("E12345678", "E******78"),
    ("G12345678", "G******78"),
    ("EA1234567", "EA*****67"),
    ("H1234567890", "H********90"),  # home return permit, 10 digits
    ("+86 138 1234 5678", "+86138****5678"),
    ("138-1234-5678", "138****5678"),
    ("oABCD1234efgh5678ijkl9012mnop", "o************************mnop"),
    ("oAbC-dEf_123456789012345678x", "o***********************678x"),  # the emulator's shape
    ("2088123456789012", "2088********9012"),  # Alipay user_id
    ("074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5", "0" + "*" * 42 + "oCo5"),  # open_id
]
KNOWN_FORMS = [
    ("31011519900307123X", "310***********123X"),
    ("13812345678", "138****5678"),
]
ALL_FORMS = NEW_FORMS + KNOWN_FORMS


class Kept(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    """A logger with the production handler (JSON) and, after it, a plain one such as
    gunicorn's or pytest's, which formats the record itself: what each of them wrote."""
    json_out, plain_out = io.StringIO(), io.StringIO()
    logger = logging.getLogger("tests.redaction")
    plain = logging.StreamHandler(plain_out)
    plain.setFormatter(logging.Formatter("%(message)s %(args)s"))
    logger.handlers = [build_handler(json_out), plain]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, json_out, plain_out
    logger.handlers = []
    logger.propagate = True


@pytest.mark.parametrize(("personal", "masked"), NEW_FORMS)
def test_each_form_is_masked_in_the_message(
    written: tuple[logging.Logger, io.StringIO, io.StringIO], personal: str, masked: str
) -> None:
    logger, json_out, plain_out = written
    logger.warning(f"lookup by {personal} failed")

    assert json.loads(json_out.getvalue())["message"] == f"lookup by {masked} failed"
    assert personal not in plain_out.getvalue()


@pytest.mark.parametrize(("personal", "masked"), NEW_FORMS)
def test_each_form_is_masked_in_the_arguments(
    written: tuple[logging.Logger, io.StringIO, io.StringIO], personal: str, masked: str
) -> None:
    logger, json_out, plain_out = written
    logger.info("lookup by %s for %s", personal, "a_Xk3dP9qLm2T7vWzQ")

    assert (
        json.loads(json_out.getvalue())["message"] == f"lookup by {masked} for a_Xk3dP9qLm2T7vWzQ"
    )
    assert personal not in plain_out.getvalue()


def test_arguments_the_message_does_not_show_are_masked_too(
    written: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, _, plain_out = written
    logger.info("login %(platform)s", {"platform": "wechat", "phone": "13812345678"})

    assert "13812345678" not in plain_out.getvalue()
    assert "138****5678" in plain_out.getvalue()


@pytest.mark.parametrize(("personal", "masked"), ALL_FORMS)
def test_each_form_is_masked_in_extra_fields(
    written: tuple[logging.Logger, io.StringIO, io.StringIO], personal: str, masked: str
) -> None:
    logger, json_out, _ = written
    logger.info(
        "bound",
        extra={"subject": personal, "seen": [personal], "context": {"who": personal}},
    )

    entry = json.loads(json_out.getvalue())
    assert (entry["subject"], entry["seen"], entry["context"]) == (
        masked,
        [masked],
        {"who": masked},
    )
    assert personal not in json_out.getvalue()


def test_a_number_passed_as_an_int_is_masked_in_extra_fields_and_the_message(
    written: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, json_out, _ = written
    logger.info("phone %d", 13812345678, extra={"phone": 13812345678, "status": 200})

    entry = json.loads(json_out.getvalue())
    assert (entry["message"], entry["phone"], entry["status"]) == (
        "phone 138****5678",
        "138****5678",
        200,
    )


@pytest.mark.parametrize(("personal", "masked"), ALL_FORMS)
def test_each_form_is_masked_in_exception_text_whoever_formats_it(
    written: tuple[logging.Logger, io.StringIO, io.StringIO], personal: str, masked: str
) -> None:
    logger, json_out, plain_out = written
    try:
        raise ValueError(f"no account for {personal}")
    except ValueError:
        logger.exception("unhandled error")

    assert f"no account for {masked}" in json.loads(json_out.getvalue())["exc"]
    assert f"no account for {masked}" in plain_out.getvalue()
    assert personal not in json_out.getvalue() + plain_out.getvalue()


def test_our_own_identifiers_are_kept(
    written: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    # A hex request id may hold 11 digits in a row that look like a mobile number.
    request_id = "9f13812345678e0c4b2a7d6e5f4c3b2a"
    ours = [
        request_id,
        "a_Xk3dP9qLm2T7vWzQ",  # public ids (db.new_public_id)
        "r_0-1234567_89abcd",
        "T100000000001",  # a tube
        "00012345678901",
        "1700000000",  # a Unix time
        "1700000000123",
        "2022-03-16",
        "2022-03-16T09:30:00+08:00",
        "outbox_delivery_failed_total",  # 28 characters, starting with o: no openid
        "stack-03-c0703504",  # a client's request id: a letter and 7 digits, lowercase
        "took 1234567 ms",
    ]
    line = " ".join(ours)
    logger, json_out, plain_out = written
    logger.info("%s %s", "GET", f"/api/v1/results/{ours[1]}", extra={"request_id": request_id})
    logger.info(line, extra={"ids": ours})

    first, second = (json.loads(text) for text in json_out.getvalue().splitlines())
    assert first["message"] == f"GET /api/v1/results/{ours[1]}"
    assert first["request_id"] == request_id
    assert second["message"] == line
    assert second["ids"] == ours


def test_gunicorn_access_atoms_keep_answering_for_what_they_lack() -> None:
    """The access line's arguments are gunicorn's own mapping: masked in a copy of it."""
    logger = logging.getLogger("tests.redaction.access")
    redacting, kept = RedactingFilter(), Kept()
    logger.addFilter(redacting)
    logger.addHandler(kept)
    atoms = SafeAtoms({"r": "GET /lookup?phone=13812345678 HTTP/1.1", "s": "200"})
    try:
        logger.warning('"%(r)s" %(s)s %({x-forwarded-for}i)s', atoms)
    finally:
        logger.removeHandler(kept)
        logger.removeFilter(redacting)
    records = kept.records

    assert records[0].getMessage() == '"GET /lookup?phone=138****5678 HTTP/1.1" 200 -'
    assert isinstance(records[0].args, SafeAtoms)  # for handlers that read the atoms
    assert records[0].args["r"] == "GET /lookup?phone=138****5678 HTTP/1.1"
    assert atoms["r"] == "GET /lookup?phone=13812345678 HTTP/1.1"  # the caller's is untouched


def test_gunicorn_loggers_get_the_filter_once() -> None:
    redact_gunicorn_loggers()
    redact_gunicorn_loggers()
    for name in ("gunicorn.error", "gunicorn.access"):
        found = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in found) == 1


GUNICORN_ACCESS = """
import runpy, sys
from gunicorn.config import Config

conf = runpy.run_path(sys.argv[1])
cfg = Config()
for key in ("loglevel", "errorlog", "logconfig_dict", "accesslog", "logger_class"):
    cfg.set(key, conf[key])
print(cfg.logger_class(cfg).access_log_enabled)
cfg.set("accesslog", "-")
print(cfg.logger_class(cfg).access_log_enabled)
"""


def test_gunicorn_builds_its_access_line_only_when_asked() -> None:
    # Our access line is the app's; gunicorn's would be built (and redacted) for nothing.
    found = subprocess.run(  # noqa: S603  # our own argv, no shell
        [sys.executable, "-c", GUNICORN_ACCESS, str(GUNICORN_CONF)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert found.stdout.split() == ["False", "True"]


# gunicorn's master as gunicorn.conf.py sets it up: its logging configuration (dictConfig,
# which would replace this test run's handlers, hence another process), then on_starting.
GUNICORN_MASTER = """
import runpy, sys
from gunicorn.config import Config
from gunicorn.glogging import Logger

conf = runpy.run_path(sys.argv[1])
cfg = Config()
for key in ("loglevel", "errorlog", "logconfig_dict"):
    cfg.set(key, conf[key])
cfg.set("accesslog", "-")  # gunicorn's own access handler too, as an operator might add
log = Logger(cfg)
conf["on_starting"](None)
log.error("Error handling request /api/v1/me?openid=%s", sys.argv[2])
log.access_log.info(cfg.access_log_format, log.atoms_wrapper_class({"r": sys.argv[3]}))
"""


def test_gunicorn_error_and_access_lines_are_redacted(tmp_path: Path) -> None:
    openid, id_number = "oAbC-dEf_123456789012345678x", "110101-19900307-123X"
    env = {
        **os.environ,
        "MINIAPP_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    done = subprocess.run(  # noqa: S603  (our interpreter, our script, our arguments)
        [
            sys.executable,
            "-c",
            GUNICORN_MASTER,
            str(GUNICORN_CONF),
            openid,
            f"GET /?id={id_number}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    error_line = json.loads(done.stderr.strip().splitlines()[-1])
    assert error_line["logger"] == "gunicorn.error"
    assert (
        error_line["message"]
        == "Error handling request /api/v1/me?openid=o***********************678x"
    )
    assert "GET /?id=110***********123X" in done.stdout
    assert openid not in done.stderr + done.stdout
    assert id_number not in done.stderr + done.stdout
