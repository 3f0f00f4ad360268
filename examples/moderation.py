"""Content moderation with human feedback: a harm classifier that moderators improve, round by round.

A moderation queue holds pairs of assistant replies to one conversation (HH-RLHF harmless-base, Bai
et al. 2022); the classifier decides which reply of a pair to flag as the more harmful. It is an
ensemble of K Bradley-Terry heads on frozen MiniLM embeddings of each reply, trained as `rlhf train
reward --kind embedding --blocks response --ensemble K` trains it: each head scores how harmless a
reply is, and the reply with the lower mean score is flagged. It starts from a small labelled seed;
then each round

1. the classifier scores the unlabelled pool, and the items its heads disagree on most
   (`rlhf.ops.acquisition`) go to the moderators; the baseline arm sends as many at random;
2. the items become a campaign in the annotation web app (`rlhf serve` on loopback, SQLite);
   simulated moderators (`rlhf.quality.simulate`: noisy, the HH label as their gold) take each
   item and answer it through the HTTP API as people's browsers do, `--overlap` of them per item;
3. the app exports the judgments aggregated per item (Dawid-Skene: the consensus with its
   confidence, learnt as a soft label), they join the training data, and the classifier is trained
   again (seconds: embeddings are cached);
4. its accuracy on held-out pairs, with the HH labels as truth, is measured.

Prints a row per round (labels so far, held-out accuracy of both arms, the mean disagreement of the
items sent) and a final JSON line. With `--output DIR` everything stays there: the app's database,
each round's exported labels and models, and results.json.

    .venv/bin/python examples/moderation.py                  # data from ../shared/data
    .venv/bin/python examples/moderation.py DATA_DIR --rounds 4 --batch 100 --output runs/moderation

The first run embeds every reply once (4,440 replies, about 2 minutes on 2 CPU cores) into the
embedding cache (`--cache-dir`, default $RLHF_CACHE or ~/.cache/rlhf); later runs skip that.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rlhf.cli.arguments import add_arguments, build, positional
from rlhf.data import PreferencePair, read_file, write_records
from rlhf.data.comparisons import ComparisonIndex, comparisons_from_records, index_comparisons
from rlhf.data.records import Text, text_to_json
from rlhf.feedback.client import Client, Reply, ServerProcess
from rlhf.models.embedding_cache import default_cache_dir
from rlhf.models.embedding_reward import BLOCKS, EmbeddingRewardModel
from rlhf.ops.acquisition import DISAGREEMENTS, most_uncertain
from rlhf.quality.simulate import AnnotatorProfile, ScoreTable, SimulatedAnnotator
from rlhf.store.codec import text_from_json
from rlhf.train.config import LoopConfig, config_to_json
from rlhf.train.reward import RewardTrainConfig, train_reward
from rlhf.train.reward_eval import evaluate_scorer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HH_HARMLESS = Path("hh-rlhf/harmless-base/test.jsonl.gz")
MODERATORS = (
    AnnotatorProfile(name="moderator-1", temperature=0.4, seconds_median=20.0),
    AnnotatorProfile(name="moderator-2", temperature=0.5, seconds_median=25.0),
    AnnotatorProfile(name="moderator-3", temperature=0.7, seconds_median=15.0),
    AnnotatorProfile(name="moderator-4", temperature=1.0, seconds_median=8.0),
)
"""Two careful moderators, one average, one hasty. The HH-chosen reply has gold score 1, the other
0, so each agrees with the HH label with probability sigmoid(1/T - 0.3): 0.90, 0.85, 0.76, 0.67;
otherwise they mostly pick the other reply, sometimes call a tie."""
INSTRUCTIONS = (
    "Two replies of an assistant to the same conversation. Choose the reply that is **less "
    "harmful**: the other one is flagged. Tie when they are equally harmful or harmless."
)
MAX_BODY_KB = 4096
"""A campaign of a hundred conversations is larger than the server's default request limit."""


@dataclass(frozen=True, kw_only=True)
class ModerationConfig:
    """examples/moderation.py: a moderation classifier improved from moderators' feedback."""

    data: Path = positional(default=SHARED_DATA)
    """The public data directory, holding hh-rlhf/harmless-base/test.jsonl.gz."""
    output: Path | None = None
    """Directory for the app's database, each round's labels and models, and results.json;
    default: a temporary directory, removed at the end."""
    cache_dir: Path | None = None
    """Embedding cache; default $RLHF_CACHE or ~/.cache/rlhf, as for `rlhf train reward`."""
    seed_labels: int = 20
    """Labelled pairs the classifier starts from."""
    pool: int = 1500
    """Unlabelled pairs the rounds draw from."""
    held_out: int = 700
    """Pairs kept aside to measure accuracy on, their HH labels as truth."""
    rounds: int = 4
    """Rounds of select, label in the app, retrain, measure."""
    batch: int = 100
    """Items sent to the moderators per round and arm."""
    overlap: int = 3
    """Moderators per item."""
    ensemble: int = 5
    """Bootstrap heads of the classifier (disagreement needs at least 2)."""
    blocks: str = "response"
    """What the classifier reads (`rlhf train reward --blocks`): the reply alone; the blocks that
    also read the conversation (joint, prompt_x_response) added nothing here (docs/moderation.md)."""
    head_l2: float = RewardTrainConfig.head_l2
    """L2 penalty of the heads, as `rlhf train reward --head-l2` (0.01 did no better here)."""
    disagreement: Literal["std", "vote"] = "std"
    """The heads' disagreement on an item: the std of their margins, or the share of heads that
    decide against the ensemble (rlhf.ops.acquisition)."""
    method: Literal["majority", "dawid-skene", "crowd-bt"] = "dawid-skene"
    """How the app aggregates an item's judgments into one training pair."""
    seed: int = 0
    """Seeds the split, the order of the replies, the random arm, the heads and the moderators."""

    def __post_init__(self) -> None:
        if min(self.seed_labels, self.pool, self.held_out, self.rounds, self.batch) < 1:
            raise ValueError("--seed-labels, --pool, --held-out, --rounds and --batch must be >= 1")
        if self.rounds * self.batch > self.pool:
            raise ValueError(
                f"{self.rounds} rounds of {self.batch} items need a pool of at least "
                f"{self.rounds * self.batch}; raise --pool or lower --rounds or --batch"
            )
        if not 1 <= self.overlap <= len(MODERATORS):
            raise ValueError(f"--overlap must lie in 1..{len(MODERATORS)}, the moderators")
        if self.ensemble < 2:
            raise ValueError("--ensemble must be >= 2: disagreement needs several heads")
        unknown = set(self.blocks.split(",")) - set(BLOCKS)
        if unknown:
            raise ValueError(
                f"--blocks: unknown {sorted(unknown)}; choose from {', '.join(BLOCKS)}"
            )

    @property
    def embedding_cache(self) -> Path:
        return self.cache_dir or default_cache_dir()


@dataclass(frozen=True)
class Split:
    """The labelled seed, the unlabelled pool and the held-out pairs."""

    seed: list[PreferencePair]
    pool: list[PreferencePair]
    held_out: list[PreferencePair]


def load_split(config: ModerationConfig) -> Split:
    """HH harmless-base pairs (without its 4 invalid ones), shuffled and cut into the three parts."""
    path = config.data / HH_HARMLESS
    if not path.is_file():
        raise SystemExit(
            f"{path} not found: pass the data directory that holds {HH_HARMLESS} (the project's "
            "../shared/data), e.g. `.venv/bin/python examples/moderation.py ../shared/data`"
        )
    pairs = [p for p in read_file(path).valid_records if isinstance(p, PreferencePair)]
    needed = config.seed_labels + config.pool + config.held_out
    if needed > len(pairs):
        raise SystemExit(f"{path} has {len(pairs)} valid pairs; the sizes asked for need {needed}")
    order = np.random.default_rng(config.seed).permutation(len(pairs))
    chosen = [pairs[i] for i in order[:needed]]
    cut = config.seed_labels + config.pool
    return Split(chosen[: config.seed_labels], chosen[config.seed_labels : cut], chosen[cut:])


# --- the classifier ------------------------------------------------------------------------------


def texts(pairs: list[PreferencePair]) -> tuple[list[Text], list[Text]]:
    """Prompts and replies of every pair: chosen, then rejected."""
    prompts = [p.prompt for p in pairs for _ in range(2)]
    return prompts, [reply for p in pairs for reply in (p.chosen, p.rejected)]


def embed_all(split: Split, config: ModerationConfig) -> dict[str, float]:
    """Put every reply's embedding in the cache once (the slow part of a first run)."""
    started = time.perf_counter()
    blocks = config.blocks.split(",")
    model = EmbeddingRewardModel.create(blocks=blocks, cache_dir=config.embedding_cache)
    prompts, replies = texts(split.seed + split.pool + split.held_out)
    model.featurize(prompts, replies)
    seconds = time.perf_counter() - started
    print(f"embedded {len(replies)} replies in {seconds:.1f} s ({model.encoded} texts not cached)")
    return {"replies": len(replies), "encoded": model.encoded, "seconds": round(seconds, 1)}


def train(files: list[Path], output: Path, config: ModerationConfig) -> EmbeddingRewardModel:
    """The classifier on every labelled file so far, as `rlhf train reward --kind embedding`."""
    settings = RewardTrainConfig(
        data=",".join(map(str, files)),
        output=output,
        kind="embedding",
        blocks=config.blocks,
        ensemble=config.ensemble,
        head_l2=config.head_l2,
        eval_fraction=0.0,  # measured on the separate held-out pairs instead
        cache_dir=config.cache_dir,
        loop=LoopConfig(seed=config.seed),
    )
    train_reward(settings, say=lambda line: None, resolved=config_to_json(settings))
    return EmbeddingRewardModel.from_pretrained(output, cache_dir=config.embedding_cache)


def margins(model: EmbeddingRewardModel, pairs: list[PreferencePair]) -> torch.Tensor:
    """(N, K) each head's raw score of `chosen` minus its raw score of `rejected`."""
    raw = model.raw_scores(*texts(pairs))  # (2N, K)
    return raw[0::2] - raw[1::2]


def accuracy(model: EmbeddingRewardModel, held_out: ComparisonIndex) -> float:
    """Share of held-out pairs whose more harmful reply (HH `rejected`) the classifier flags."""
    report = evaluate_scorer(lambda p, r: model.score(p, r, normalize=False), held_out)
    return round(report["accuracy"], 4)


# --- the moderators, through the web app ---------------------------------------------------------


def checked(reply: Reply, status: int = 200) -> Reply:
    """`reply`, if it has the expected status."""
    if reply.status != status:
        raise RuntimeError(f"the app answered {reply.status}: {reply.text}")
    return reply


@dataclass
class Moderator:
    """A simulated person signed in with their own token, answering through the API."""

    client: Client
    person: SimulatedAnnotator

    def take(self, campaign: str) -> bool:
        """Fetch the next item and answer it; False when nothing is left for this moderator."""
        item = checked(self.client.call("POST", f"/api/campaigns/{campaign}/next")).json["item"]
        if item is None:
            return False
        left, right = (text_from_json(r["text"]) for r in item["responses"])
        judgment, seconds = self.person.judge_shown(text_from_json(item["prompt"]), (left, right))
        body = {"submission_id": uuid.uuid4().hex, "judgment": judgment, "seconds": seconds}
        checked(self.client.call("POST", f"/api/assignments/{item['assignment']}/answer", body))
        return True


@dataclass(frozen=True)
class ModerationApp:
    """The annotation web app with its admin and moderators signed in."""

    admin: Client
    moderators: list[Moderator]
    config: ModerationConfig

    def label(self, campaign: str, items: dict[str, dict[str, Any]]) -> tuple[int, str]:
        """Send `items` (by id) as a campaign; the moderators work through it in turns, each
        taking one item, then the next one. Returns the answers given and the export of the
        aggregated pairs (JSON lines)."""
        samples = [{**item, "id": id} for id, item in items.items()]
        body = {
            "name": campaign,
            "instructions": INSTRUCTIONS,
            "overlap": self.config.overlap,
            "annotators": [profile.name for profile in MODERATORS],
            "samples": samples,
            "seed": self.config.seed,
        }
        checked(self.admin.call("POST", "/api/campaigns", body), 201)
        answers, working = 0, list(self.moderators)
        while working:
            working = [moderator for moderator in working if moderator.take(campaign)]
            answers += len(working)
        query = f"records=aggregated&method={self.config.method}"
        export = checked(self.admin.call("GET", f"/api/campaigns/{campaign}/export?{query}"))
        return answers, export.text


def unlabelled(pair: PreferencePair, rng: np.random.Generator) -> dict[str, Any]:
    """An item for the app without its HH label: the two replies in a random order."""
    replies = [pair.chosen, pair.rejected][:: 1 if rng.random() < 0.5 else -1]
    return {"prompt": text_to_json(pair.prompt), "responses": [text_to_json(r) for r in replies]}


@contextmanager
def moderation_app(
    work: Path, pool: list[PreferencePair], config: ModerationConfig
) -> Iterator[ModerationApp]:
    """`rlhf serve` on loopback with the moderators signed up; their gold is the HH label."""
    token = secrets.token_urlsafe(32)
    gold = ScoreTable(
        {(p.prompt, r): float(r == p.chosen) for p in pool for r in (p.chosen, p.rejected)}
    )
    db, extra = f"sqlite:///{work / 'moderation.db'}", ("--max-body-kb", str(MAX_BODY_KB))
    with ServerProcess(db, admin_token=token, cwd=work, extra=extra) as server:
        admin = Client(server.url, token)
        moderators = []
        for k, profile in enumerate(MODERATORS):
            signed_up = checked(admin.call("POST", "/api/annotators", {"name": profile.name}), 201)
            person = SimulatedAnnotator(profile, gold, seed=1000 * config.seed + k)
            moderators.append(Moderator(Client(server.url, signed_up.json["token"]), person))
        yield ModerationApp(admin, moderators, config)


# --- the rounds ----------------------------------------------------------------------------------


def pick_uncertain(disagreement: torch.Tensor, k: int, rng: np.random.Generator) -> list[int]:
    return [int(i) for i in most_uncertain(disagreement, k)]


def pick_random(disagreement: torch.Tensor, k: int, rng: np.random.Generator) -> list[int]:
    return [int(i) for i in rng.choice(len(disagreement), size=k, replace=False)]


SELECTIONS = {"active": pick_uncertain, "random": pick_random}
"""The arms: how each picks the items it sends, given the classifier's disagreement on the pool."""


@dataclass(frozen=True)
class Round:
    """What one arm had after a round (round 0: the seed classifier)."""

    round: int
    labels: int
    """Training pairs so far: the seed and every exported pair."""
    accuracy: float
    """Held-out accuracy of the classifier trained on them."""
    sent: int = 0
    disagreement: float | None = None
    """The mean disagreement of the classifier on the items sent."""
    answers: int = 0
    """Answers the moderators gave through the app."""
    labels_agree_with_hh: float | None = None
    """Share of the exported (non-tie) pairs whose chosen reply is the HH-chosen one."""


@dataclass
class Arm:
    """One way of choosing what the moderators see, with its labelled files and classifier."""

    name: str
    files: list[Path]
    model: EmbeddingRewardModel
    remaining: list[int]
    """Indexes of the pool items not sent yet."""
    rng: np.random.Generator
    rounds: list[Round]


def step(
    arm: Arm, number: int, split: Split, held_out: ComparisonIndex, app: ModerationApp
) -> None:
    """One round of one arm: select, label in the app, retrain on the export, measure."""
    left = [split.pool[i] for i in arm.remaining]
    # the disagreement does not depend on which reply comes first: the HH order reveals nothing
    disagreement = DISAGREEMENTS[app.config.disagreement](margins(arm.model, left))  # (N,)
    picked = SELECTIONS[arm.name](disagreement, app.config.batch, arm.rng)
    sent_positions = set(picked)
    sent = {f"{arm.name}-{number}-pool-{arm.remaining[i]}": left[i] for i in picked}
    campaign = f"{arm.name}-{number}"
    answers, exported = app.label(campaign, {id: unlabelled(p, arm.rng) for id, p in sent.items()})
    path = arm.files[0].parent / f"{campaign}.jsonl"
    path.write_text(exported)
    labelled = [p for p in read_file(path).records if isinstance(p, PreferencePair)]
    arm.files.append(path)
    arm.remaining = [i for k, i in enumerate(arm.remaining) if k not in sent_positions]
    arm.model = train(arm.files, path.parent / arm.name / f"round-{number}", app.config)
    decided = [p for p in labelled if not p.tie]
    right = sum(p.chosen == sent[str(p.id)].chosen for p in decided)
    arm.rounds.append(
        Round(
            round=number,
            labels=arm.rounds[-1].labels + len(labelled),
            accuracy=accuracy(arm.model, held_out),
            sent=len(sent),
            disagreement=round(float(disagreement[picked].mean()), 4),
            answers=answers,
            labels_agree_with_hh=round(right / max(1, len(decided)), 4),
        )
    )


def run(config: ModerationConfig, split: Split, work: Path) -> dict[str, Any]:
    """Embed, train the seed classifier, then the rounds of both arms; returns what they did."""
    embedding = embed_all(split, config)
    seed_file = work / "seed.jsonl"
    write_records(split.seed, seed_file)
    seed_model = train([seed_file], work / "seed-model", config)
    held_out = index_comparisons(comparisons_from_records(split.held_out)[0])
    first = Round(round=0, labels=len(split.seed), accuracy=accuracy(seed_model, held_out))
    rngs = np.random.default_rng(config.seed).spawn(len(SELECTIONS))
    arms = [
        Arm(name, [seed_file], seed_model, list(range(len(split.pool))), rng, [first])
        for name, rng in zip(SELECTIONS, rngs, strict=True)
    ]
    print(HEADER)
    print_row(arms)
    with moderation_app(work, split.pool, config) as app:
        for number in range(1, config.rounds + 1):
            for arm in arms:
                step(arm, number, split, held_out, app)
            print_row(arms)
    rounds = {arm.name: [dataclasses.asdict(r) for r in arm.rounds] for arm in arms}
    gain = {arm.name: round(arm.rounds[-1].accuracy - first.accuracy, 4) for arm in arms}
    return {"embedding": embedding, "arms": rounds, "gain": gain}


HEADER = """\
                held-out accuracy   disagreement of the items sent
round  labels    active   random        active   random     answers"""


def print_row(arms: list[Arm]) -> None:
    active, random = (arm.rounds[-1] for arm in arms)
    labels = "/".join(map(str, sorted({active.labels, random.labels})))
    sent = [
        f"{r.disagreement:.3f}" if r.disagreement is not None else "-" for r in (active, random)
    ]
    print(
        f"{active.round:5d}  {labels:>6}  {active.accuracy:8.3f} {random.accuracy:8.3f}  "
        f"{sent[0]:>12} {sent[1]:>8}  {active.answers + random.answers:10d}",
        flush=True,
    )


@contextmanager
def workspace(output: Path | None) -> Iterator[Path]:
    """`output` (kept), or a temporary directory removed at the end."""
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        yield output
        return
    with tempfile.TemporaryDirectory(prefix="rlhf-moderation-") as directory:
        yield Path(directory)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, ModerationConfig)
    try:
        config = build(ModerationConfig, parser.parse_args(argv))
    except ValueError as error:
        parser.error(str(error))
    started = time.perf_counter()
    split = load_split(config)
    with workspace(config.output) as work:
        results = run(config, split, work)
        summary = {
            "ok": True,
            "held_out_pairs": len(split.held_out),
            **results,
            "seconds": round(time.perf_counter() - started, 1),
            "config": config_to_json(config),
        }
        (work / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
