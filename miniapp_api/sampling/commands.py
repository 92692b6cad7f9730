"""Console commands: ``miniapp sites|staff|labs|rounds ...`` (added to the group in cli.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import ParamSpec, TypeVar

import click
from flask.cli import AppGroup

from miniapp_api.db import as_utc, utcnow
from miniapp_api.sampling import setup
from miniapp_api.sampling.setup import SetupRefused
from miniapp_api.sampling.staff import create_staff
from miniapp_api.wiring import wiring

P = ParamSpec("P")
R = TypeVar("R")


def _refusals_exit(command: Callable[P, R]) -> Callable[P, R]:
    """A refused operation ends with its reason and exit status 1, not a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SetupRefused as exc:
            raise click.ClickException(str(exc)) from None

    return run


@click.group("sites", cls=AppGroup)
def sites() -> None:
    """Sampling sites."""


@sites.command("create")
@click.argument("name")
@click.option("--lab", "lab_id", help="the lab (its lab id) that receives this site's tubes")
@_refusals_exit
def sites_create(name: str, lab_id: str | None) -> None:
    """Create the sampling site NAME."""
    with wiring().db.session() as session:
        site = setup.create_site(session, name, lab_id=lab_id)
    click.echo(f"site {site.name!r} created ({site.public_id})")


@click.group("staff", cls=AppGroup)
def staff() -> None:
    """Sampling staff accounts."""


@staff.command("create")
@click.argument("username")
@click.option("--site", "site_name", required=True, help="the site (its name) they work at")
@click.option(
    "--password-stdin", is_flag=True, help="read the password from the first line of stdin"
)
@_refusals_exit
def staff_create(username: str, site_name: str, password_stdin: bool) -> None:
    """Create the staff member USERNAME at a site. The password is prompted for, never shown."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with wiring().db.session() as session:
        member = create_staff(session, username, password=password, site_name=site_name)
    click.echo(f"staff {member.username!r} created at site {site_name!r}")


@click.group("labs", cls=AppGroup)
def labs() -> None:
    """Labs that upload tube results."""


@labs.command("create")
@click.argument("name")
@_refusals_exit
def labs_create(name: str) -> None:
    """Create the lab NAME; prints its id and upload secret, once."""
    wire = wiring()
    with wire.db.session() as session:
        lab = setup.create_lab(session, name, crypto=wire.crypto)
    click.echo(f"lab {lab.name!r} created")
    click.echo(f"lab id: {lab.lab_id}")
    click.echo(f"secret: {lab.secret}")
    click.echo("Give the secret to the lab now: it is stored encrypted and never shown again.")


@labs.command("rotate-secret")
@click.argument("lab_id")
@click.option(
    "--overlap-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="how long the current secret stays valid beside the new one; 0 ends it at once "
    "(a leaked secret)",
)
@_refusals_exit
def labs_rotate_secret(lab_id: str, overlap_hours: float) -> None:
    """Give the lab LAB_ID a new upload secret; prints it, once."""
    wire = wiring()
    with wire.db.session() as session:
        rotated = setup.rotate_lab_secret(
            session,
            lab_id,
            overlap=timedelta(hours=overlap_hours),
            crypto=wire.crypto,
            now=utcnow(),
        )
    click.echo(f"lab id: {rotated.lab_id}")
    click.echo(f"new secret: {rotated.secret}")
    if rotated.previous_until is None:
        click.echo("The previous secret no longer works.")
    else:
        click.echo(
            f"The previous secret works until {_local(rotated.previous_until)}; uploads signed "
            "with it are logged as a warning until the lab switches."
        )
    click.echo("Give the new secret to the lab now: it is stored encrypted and never shown again.")


@click.group("rounds", cls=AppGroup)
def rounds() -> None:
    """Screening rounds: one is open at a time, and every scan goes into it."""


@rounds.command("open")
@click.argument("name")
@_refusals_exit
def rounds_open(name: str) -> None:
    """Open the round NAME (e.g. "2022-03-16 Pudong"). Refused while another is open."""
    with wiring().db.session() as session:
        opened = setup.open_round(session, name, now=utcnow())
    click.echo(f"round {opened.name!r} is open ({opened.public_id})")


@rounds.command("close")
@_refusals_exit
def rounds_close() -> None:
    """Close the open round and its open tubes."""
    with wiring().db.session() as session:
        closed, tube_count = setup.close_round(session, utcnow())
    click.echo(f"round {closed.name!r} closed; {tube_count} open tubes closed with it")


@rounds.command("list")
def rounds_list() -> None:
    """Every round, newest first, with its tubes and samplings."""
    with wiring().db.session() as session:
        found = setup.list_rounds(session)
    if not found:
        click.echo("no rounds yet")
    for r in found:
        state = f"closed {_local(r.closed_at)}" if r.closed_at else "OPEN"
        click.echo(
            f"{r.name}\t{r.public_id}\topened {_local(r.opened_at)}\t{state}\t"
            f"{r.tubes} tubes\t{r.samplings} samplings"
        )


def _local(moment: datetime) -> str:
    """In the process's zone (Beijing, miniapp_api/clock.py), as operators read clocks."""
    return f"{as_utc(moment).astimezone():%Y-%m-%d %H:%M}"
