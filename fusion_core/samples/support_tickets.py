"""Which team should answer this support ticket? The customer's message and their account record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.samples.base import SAMPLES, SampleDataset, sample_ids, write_tables

TEAMS = ("billing", "technical", "shipping", "account", "cancellation")
PER_CLASS = 300
MISSING_MESSAGE = 0.25  # share of tickets opened by phone, with no written message

TOPIC_PHRASES = {
    "billing": (
        "charged twice",
        "wrong amount on my invoice",
        "refund for last month",
        "my card was billed",
        "the price went up",
        "payment did not go through",
    ),
    "technical": (
        "the app keeps crashing",
        "page will not load",
        "error code when i save",
        "sync is broken",
        "the screen freezes",
        "upload fails every time",
    ),
    "shipping": (
        "my parcel has not arrived",
        "tracking has not moved",
        "package came damaged",
        "wrong item delivered",
        "delivery is late",
        "courier left it outside",
    ),
    "account": (
        "cannot log in",
        "password reset email never came",
        "locked out of my account",
        "need to change my email",
        "two factor code does not work",
        "someone else used my login",
    ),
    "cancellation": (
        "want to cancel my plan",
        "please close my subscription",
        "stop renewing",
        "switching to another service",
        "not using it anymore",
        "end my membership",
    ),
}
VAGUE_PHRASES = (
    "something is wrong",
    "please help",
    "this is not what i expected",
    "can someone call me",
    "still waiting for an answer",
    "having trouble again",
)
OPENINGS = ("hi,", "hello,", "", "urgent:", "hey team,", "good morning,")
CLOSINGS = ("", "thanks", "please fix this", "thank you", "asap", "this is the second time")


@SAMPLES.register("support-tickets")
class SupportTickets(SampleDataset):
    """Synthetic customer-support tickets routed to one of five teams.

    *message* (text): what the customer wrote: often a telling phrase, often
    only a vague complaint, now and then a phrase that points to the wrong
    team. A quarter of the tickets came by phone and have no message at all
    (the cell is empty, so the text modality is absent for that sample).
    *account* (tabular): the customer record when the ticket was opened: plan,
    tenure, days since the last order, unpaid invoices, failed logins, app
    errors in the last week, hours of use this month.
    """

    title = "Support tickets: message + account record"
    summary = (
        "1,500 synthetic support tickets for five teams (billing, technical, shipping, account, "
        "cancellation): a short message (missing for a quarter of them) and the customer's account record."
    )
    lesson = (
        "A modality can be missing for some samples. The message is the best clue when it is there, and "
        "the account record carries the tickets that have none; a fused model that knows which inputs are "
        "present uses whichever it has, while a text-only model is lost on the phone tickets."
    )
    modalities = {"message": "text", "account": "tabular"}
    n_samples = PER_CLASS * len(TEAMS)
    n_classes = len(TEAMS)
    version = 2

    def build(self, out_dir: Path, seed: int) -> None:
        rng = np.random.default_rng(seed)
        labels = rng.permutation(np.repeat(np.arange(len(TEAMS)), PER_CLASS))
        teams = np.asarray(TEAMS)[labels]
        messages = [write_message(team, rng) for team in teams]
        phoned = rng.random(len(teams)) < MISSING_MESSAGE
        messages = ["" if by_phone else message for message, by_phone in zip(messages, phoned, strict=True)]
        account = account_records(teams, rng)

        manifest = pd.DataFrame(
            {"id": sample_ids("ticket", len(teams)), "label": teams, "message": messages, **account}
        )
        schema = {
            "id": "id",
            "target": "label",
            "modalities": {
                "message": {"type": "text", "column": "message"},
                "account": {"type": "tabular", "columns": list(account)},
            },
        }
        write_tables(out_dir, manifest, schema)


def write_message(team: str, rng: np.random.Generator) -> str:
    """A short message: a telling phrase (65%), a misleading one (5%) or only a vague one (30%)."""
    draw = rng.random()
    if draw < 0.65:
        core = rng.choice(TOPIC_PHRASES[team])
    elif draw < 0.70:
        other = rng.choice([t for t in TEAMS if t != team])
        core = rng.choice(TOPIC_PHRASES[other])
    else:
        core = rng.choice(VAGUE_PHRASES)
    parts = [rng.choice(OPENINGS), core]
    if rng.random() < 0.5:
        parts.append(rng.choice(VAGUE_PHRASES))
    parts.append(rng.choice(CLOSINGS))
    return " ".join(part for part in parts if part)


def account_records(teams: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Customer records whose counts lean towards the ticket's cause, with plenty of overlap."""
    count = len(teams)

    def more(team: str, low: float, high: float) -> np.ndarray:
        return np.where(teams == team, high, low)

    return {
        "plan": rng.choice(["free", "basic", "pro"], size=count, p=[0.3, 0.45, 0.25]),
        "tenure_months": rng.integers(1, 72, size=count),
        "days_since_order": np.round(rng.exponential(more("shipping", 30.0, 5.0))).astype(int),
        "unpaid_invoices": rng.poisson(more("billing", 0.3, 1.5)),
        "failed_logins_7d": rng.poisson(more("account", 0.4, 2.0)),
        "app_errors_7d": rng.poisson(more("technical", 0.8, 3.0)),
        "usage_hours_month": np.round(rng.gamma(2.0, more("cancellation", 10.0, 3.5)), 1),
    }
