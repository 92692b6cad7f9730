"""`miniapp sites|staff|labs|rounds ...` against the test app's PostgreSQL."""

from __future__ import annotations

import re

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from miniapp_api.cli import main
from miniapp_api.sampling.models import Lab, ScreeningRound, Site, Staff, Tube
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.wiring import wiring_of
from tests.support.clients import StaffClient, scan_item
from tests.support.factories import STAFF_PASSWORD, committed, issue_code, make_resident
from tests.support.sensitive import remember


def miniapp(app: Flask, *args: str, stdin: str | None = None) -> Result:
    return app.test_cli_runner().invoke(main, list(args), input=stdin)


def test_help_lists_the_screening_commands(app: Flask) -> None:
    result = miniapp(app, "--help")
    for group in ("sites", "staff", "labs", "rounds"):
        assert group in result.output
    assert "--password-stdin" in miniapp(app, "staff", "create", "--help").output


def test_a_lab_secret_is_printed_once_and_stored_encrypted(app: Flask) -> None:
    result = miniapp(app, "labs", "create", "Shanghai Lab 1")

    assert result.exit_code == 0, result.output
    lab_id = re.search(r"lab id: (\S+)", result.output)
    secret = re.search(r"secret: (\S+)", result.output)
    assert lab_id
    assert secret
    remember(secret[1])
    assert result.output.count(secret[1]) == 1
    with committed(app) as session:
        lab = session.scalars(select(Lab).where(Lab.lab_id == lab_id[1])).one()
    assert lab.name == "Shanghai Lab 1"
    assert secret[1].encode() not in lab.secret_enc
    assert wiring_of(app).crypto.decrypt(LAB_SECRET_PURPOSE, lab.secret_enc) == secret[1]
    listing = miniapp(app, "rounds", "list")
    assert secret[1] not in listing.output
    assert miniapp(app, "labs", "create", "Shanghai Lab 1").exit_code == 1


def test_a_site_is_created_with_its_lab(app: Flask) -> None:
    created = miniapp(app, "labs", "create", "Lab A")
    lab_id = re.search(r"lab id: (\S+)", created.output)
    assert lab_id

    result = miniapp(app, "sites", "create", "Pudong Site 7", "--lab", lab_id[1])

    assert result.exit_code == 0, result.output
    with committed(app) as session:
        site = session.scalars(select(Site).where(Site.name == "Pudong Site 7")).one()
        lab = session.scalars(select(Lab).where(Lab.lab_id == lab_id[1])).one()
    assert site.lab_id == lab.id


def test_bad_site_requests_are_refused_with_a_reason(app: Flask) -> None:
    unknown_lab = miniapp(app, "sites", "create", "S1", "--lab", "lab_nope")
    assert unknown_lab.exit_code == 1
    assert "no lab with id 'lab_nope'" in unknown_lab.output

    assert miniapp(app, "sites", "create", "S1").exit_code == 0
    twice = miniapp(app, "sites", "create", "S1")
    assert twice.exit_code == 1
    assert "exists already" in twice.output

    piped = miniapp(app, "sites", "create", "S|2")
    assert piped.exit_code == 1
    assert "'|'" in piped.output


def test_staff_created_from_stdin_can_log_in(app: Flask, client: FlaskClient) -> None:
    password = "a long shift ahead"
    remember(password)
    miniapp(app, "sites", "create", "Jing'an Site 3")

    result = miniapp(
        app,
        "staff",
        "create",
        "Zhang.Wei",
        "--site",
        "Jing'an Site 3",
        "--password-stdin",
        stdin=password + "\n",
    )

    assert result.exit_code == 0, result.output
    assert password not in result.output
    with committed(app) as session:
        member = session.scalars(select(Staff).where(Staff.username == "zhang.wei")).one()
    assert member.password_hash.startswith("$argon2id$")
    assert password not in member.password_hash
    login = StaffClient(client, "zhang.wei", password).login()
    assert login.status_code == 200
    assert login.get_json()["site"]["name"] == "Jing'an Site 3"


def test_the_password_prompt_does_not_echo(app: Flask) -> None:
    password = "typed at the prompt"
    remember(password)
    miniapp(app, "sites", "create", "Site P")

    result = miniapp(
        app, "staff", "create", "li.na", "--site", "Site P", stdin=f"{password}\n{password}\n"
    )

    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert password not in result.output


def test_bad_staff_requests_are_refused_with_a_reason(app: Flask) -> None:
    miniapp(app, "sites", "create", "Site Q")
    unknown_site = miniapp(
        app,
        "staff",
        "create",
        "wu.fang",
        "--site",
        "Nowhere",
        "--password-stdin",
        stdin="long enough password\n",
    )
    short = miniapp(
        app, "staff", "create", "wu.fang", "--site", "Site Q", "--password-stdin", stdin="short\n"
    )
    bad_name = miniapp(
        app,
        "staff",
        "create",
        "wu fang!",
        "--site",
        "Site Q",
        "--password-stdin",
        stdin="long enough password\n",
    )

    assert (unknown_site.exit_code, short.exit_code, bad_name.exit_code) == (1, 1, 1)
    assert "no site named 'Nowhere'" in unknown_site.output
    assert "at least 8 characters" in short.output
    assert "usernames are" in bad_name.output
    with committed(app) as session:
        assert session.scalars(select(Staff)).all() == []


def test_one_round_is_open_at_a_time(app: Flask) -> None:
    opened = miniapp(app, "rounds", "open", "2022-03-16 Pudong")
    second = miniapp(app, "rounds", "open", "2022-03-17 Pudong")
    closed = miniapp(app, "rounds", "close")
    reused = miniapp(app, "rounds", "open", "2022-03-16 Pudong")
    next_day = miniapp(app, "rounds", "open", "2022-03-17 Pudong")
    listing = miniapp(app, "rounds", "list")

    assert opened.exit_code == 0, opened.output
    assert second.exit_code == 1
    assert "round '2022-03-16 Pudong' is open; close it first" in second.output
    assert closed.exit_code == 0
    assert reused.exit_code == 1
    assert next_day.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].startswith("2022-03-17 Pudong")
    assert "OPEN" in lines[0]
    assert lines[1].startswith("2022-03-16 Pudong")
    assert "closed" in lines[1]
    with committed(app) as session:
        open_rounds = session.scalars(
            select(ScreeningRound).where(ScreeningRound.closed_at.is_(None))
        ).all()
    assert [r.name for r in open_rounds] == ["2022-03-17 Pudong"]


def test_closing_without_an_open_round_is_refused(app: Flask) -> None:
    result = miniapp(app, "rounds", "close")
    assert result.exit_code == 1
    assert "no round is open" in result.output


def test_closing_a_round_closes_its_tubes_and_stops_scans(app: Flask, client: FlaskClient) -> None:
    miniapp(app, "sites", "create", "Site R")
    miniapp(
        app,
        "staff",
        "create",
        "he.min",
        "--site",
        "Site R",
        "--password-stdin",
        stdin=f"{STAFF_PASSWORD}\n",
    )
    miniapp(app, "rounds", "open", "2022-03-18 Minhang")
    staff = StaffClient(client, "he.min")
    staff.login()
    token = issue_code(app, make_resident(app))
    assert staff.scan_answers(scan_item(token, "R-1"))[0]["status"] == "bound"

    closed = miniapp(app, "rounds", "close")

    assert "1 open tubes closed" in closed.output
    with committed(app) as session:
        assert session.scalars(select(Tube)).one().closed_at is not None
    assert staff.scan(scan_item(token, "R-2")).status_code == 409
