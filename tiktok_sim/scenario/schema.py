"""The typed, frozen scenario schema.

Every model forbids unknown keys and range-checks its values. Defaults are the
calibrated world of ``scenarios/defaults.yaml``, which is generated from this file
(``tiktok-sim defaults``) so the two never drift apart.
"""

from __future__ import annotations

import itertools
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tiktok_sim.scenario.durations import format_duration, parse_duration

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Share = Annotated[float, Field(gt=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
Minutes = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0.0),
    PlainSerializer(format_duration, return_type=str),
]

ACTIONS = ("completion", "like", "comment", "share", "follow")
"""Per-impression rates a gate can check."""
RateName = Literal["completion", "like", "comment", "share", "follow"]
GATE_MEASURES = (*ACTIONS, "avg_watched", "watch_time")
"""What an absolute gate can check: the rates, the average share watched, mean seconds watched."""


BOOLEAN_FOR_NUMBER = "boolean_for_number"
"""The error type of a boolean given where a number is expected."""


def _numeric(annotation: Any) -> bool:
    """True if a field of this type holds a number (possibly optional)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        return bool not in args and any(_numeric(arg) for arg in args)
    return annotation in (int, float)


def _boolean_for_number(value: Any, annotation: Any) -> bool:
    """True if ``value`` puts a boolean where ``annotation`` expects a number, at any depth of lists and maps."""
    if isinstance(value, bool):
        return _numeric(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(value, list) and origin in (list, tuple) and args:
        return any(_boolean_for_number(item, args[0]) for item in value)
    if isinstance(value, dict) and origin is dict and len(args) == 2:
        return any(_boolean_for_number(item, args[1]) for item in value.values())
    return False


class Strict(BaseModel):
    """Base for every scenario block: frozen, unknown keys rejected, numbers finite and never booleans.

    YAML reads ``.nan``, ``.inf`` and ``true`` as a float and a boolean, and Python would
    let them pass as numbers (``true`` is 1): each would be a silently wrong run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        for name, value in data.items() if isinstance(data, dict) else ():
            field = cls.model_fields.get(name)
            if field is not None and _boolean_for_number(value, field.annotation):
                # The loader places this error at the key itself, named in the context.
                raise PydanticCustomError(BOOLEAN_FOR_NUMBER, "expected a number, found a boolean", {"key": name})
        return data


class Lognormal(Strict):
    """A lognormal distribution given by its median and log-space sigma."""

    median: Positive = Field(description="median value")
    sigma: float = Field(ge=0.0, le=5.0, description="standard deviation of the log")


class Beta(Strict):
    """A Beta(a, b) distribution on [0, 1]."""

    a: Positive = Field(description="first shape parameter")
    b: Positive = Field(description="second shape parameter")


class Region(Strict):
    """Where users and creators live: time zone and languages."""

    name: str = Field(min_length=1, description="region label")
    share: Share = Field(description="share of users and creators in this region")
    utc_offset: float = Field(ge=-12, le=14, description="hours ahead of UTC")
    languages: list[str] = Field(
        min_length=1, description="languages spoken; the first is everyone's, creators post in it"
    )


class Device(Strict):
    """A device type; tablets watch longer sessions than phones."""

    name: str = Field(min_length=1, description="device label")
    share: Share = Field(description="share of users on this device")
    session_multiplier: Positive = Field(description="scales videos per session")
    completion_length: float = Field(
        default=0.0, ge=-3.0, le=3.0, description="logit added to finishing per doubling of length over 10 s"
    )


def _default_regions() -> list[Region]:
    return [
        Region(name="us", share=0.35, utc_offset=-5, languages=["en", "es"]),
        Region(name="uk", share=0.10, utc_offset=0, languages=["en"]),
        Region(name="br", share=0.15, utc_offset=-3, languages=["pt", "en"]),
        Region(name="id", share=0.20, utc_offset=7, languages=["id", "en"]),
        Region(name="de", share=0.10, utc_offset=1, languages=["de", "en"]),
        Region(name="jp", share=0.10, utc_offset=9, languages=["ja"]),
    ]


def _default_devices() -> list[Device]:
    return [
        Device(name="ios", share=0.45, session_multiplier=1.0),
        Device(name="android", share=0.50, session_multiplier=0.95),
        Device(name="tablet", share=0.05, session_multiplier=1.4, completion_length=0.4),
    ]


# Share of a day's sessions that start in each local hour (0-23); normalized on use.
DEFAULT_DIURNAL = [
    2.0, 1.2, 0.8, 0.6, 0.5, 0.7, 1.5, 3.0, 4.0, 4.0, 4.0, 4.5,
    5.0, 5.0, 4.5, 4.5, 5.0, 5.5, 6.5, 7.5, 8.0, 8.0, 7.0, 4.5,
]  # fmt: skip


class Users(Strict):
    """The synthetic audience."""

    count: int = Field(
        default=100_000, gt=0, le=1_000_000_000, description="number of users (ids are 32-bit in the seen filter)"
    )
    regions: list[Region] = Field(
        default_factory=_default_regions, min_length=1, description="regions with shares summing to 1"
    )
    multilingual_prob: Prob = Field(
        default=0.3, description="chance a user also speaks each further language of their region"
    )
    devices: list[Device] = Field(
        default_factory=_default_devices, min_length=1, description="device types with shares summing to 1"
    )
    interest_concentration: Positive = Field(
        default=0.15, description="Dirichlet alpha of true topic interests; small = narrow tastes"
    )
    style_concentration: Positive = Field(
        default=0.5, description="Dirichlet alpha of true tastes over sound and hashtag styles; small = picky"
    )
    sensitive_opt_in: Prob = Field(default=0.2, description="share of users who opted in to sensitive content")
    signup_pick_prob: Prob = Field(default=0.5, description="share of users who picked interest categories at signup")
    signup_picks: int = Field(default=3, ge=1, description="categories picked by those who pick")
    sessions_per_day: Lognormal = Field(
        default=Lognormal(median=5.0, sigma=0.96),
        description="sessions per user per day (median 5 x 8.4 videos = 42 plays, KuaiRec)",
    )
    videos_per_session: Positive = Field(default=8.4, description="mean videos watched per session")
    diurnal: list[float] = Field(
        default_factory=lambda: list(DEFAULT_DIURNAL),
        min_length=24,
        max_length=24,
        description="relative session starts per local hour 0-23",
    )

    @field_validator("diurnal")
    @classmethod
    def _diurnal_positive(cls, v: list[float]) -> list[float]:
        return _hourly_weights(v)

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Users:
        _check_shares("regions", [r.share for r in self.regions])
        _check_shares("devices", [d.share for d in self.devices])
        languages = {lang for r in self.regions for lang in r.languages}
        if len(languages) > 63:
            raise ValueError(f"regions: expected at most 63 languages, found {len(languages)}")
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"regions: names must be unique, found {names}")
        return self


def _hourly_weights(v: list[float]) -> list[float]:
    if any(x < 0 for x in v) or sum(v) <= 0:
        raise ValueError("expected 24 non-negative weights with a positive sum")
    return v


def _check_shares(what: str, shares: list[float]) -> None:
    if abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"{what}: shares must sum to 1, found {sum(shares):.4g}")


class LognormalLength(Strict):
    """Video length in seconds, lognormal and clipped."""

    type: Literal["lognormal"] = Field(default="lognormal", description="kind of distribution")
    median: Positive = Field(description="median length in seconds")
    sigma: float = Field(ge=0.0, le=3.0, description="standard deviation of log length")
    min: Positive = Field(default=1.0, description="shortest length in seconds")
    max: Positive = Field(default=600.0, description="longest length in seconds")

    @model_validator(mode="after")
    def _ordered(self) -> LognormalLength:
        if self.min >= self.max:
            raise ValueError(f"expected min < max, found min {self.min:g} and max {self.max:g}")
        return self


class QuantileLength(Strict):
    """Video length in seconds, by log-linear interpolation between quantiles."""

    type: Literal["quantiles"] = Field(default="quantiles", description="kind of distribution")
    points: list[tuple[Prob, Positive]] = Field(
        min_length=2, description="[probability, seconds] pairs from p=0 to p=1, both increasing"
    )

    @field_validator("points")
    @classmethod
    def _monotone(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        ps = [p for p, _ in v]
        secs = [s for _, s in v]
        if ps[0] != 0.0 or ps[-1] != 1.0:
            raise ValueError("expected the first probability to be 0 and the last 1")
        if any(b <= a for a, b in itertools.pairwise(ps)) or any(b < a for a, b in itertools.pairwise(secs)):
            raise ValueError("expected probabilities and seconds to increase")
        return v


LengthDistribution = Annotated[LognormalLength | QuantileLength, Field(discriminator="type")]


def _default_length() -> QuantileLength:
    # Knots through KuaiRec's quartiles (7.4 s, 9.6 s, 12.2 s); the tail gives mean ~14.6 s.
    return QuantileLength(
        points=[(0.0, 3.0), (0.25, 7.4), (0.5, 9.6), (0.75, 12.2), (0.9, 22.0), (0.97, 50.0), (1.0, 180.0)]
    )


class Creators(Strict):
    """The synthetic creators (not featured)."""

    count: int = Field(default=4000, gt=0, le=100_000_000, description="number of creators")
    followers: Lognormal = Field(
        default=Lognormal(median=150.0, sigma=1.8), description="initial followers (heavy-tailed)"
    )
    niche_topics: int = Field(default=2, ge=1, description="topics each creator posts about")
    quality: Beta = Field(default=Beta(a=2.0, b=2.0), description="production quality in [0, 1]")
    hook: Beta = Field(default=Beta(a=2.0, b=2.0), description="strength of the first seconds in [0, 1]")
    video_spread: float = Field(
        default=0.12, ge=0.0, le=1.0, description="sd of a video's quality and hook around its creator's"
    )
    posts_per_day: Lognormal = Field(
        default=Lognormal(median=1.0, sigma=0.6), description="mean uploads per creator per day"
    )
    post_hours: list[float] = Field(
        default_factory=lambda: list(DEFAULT_DIURNAL),
        min_length=24,
        max_length=24,
        description="relative uploads per local hour 0-23",
    )
    video_length: LengthDistribution = Field(
        default_factory=_default_length, description="length distribution (lognormal or quantiles)"
    )

    @field_validator("post_hours")
    @classmethod
    def _post_hours_positive(cls, v: list[float]) -> list[float]:
        return _hourly_weights(v)


class Featured(Strict):
    """A creator followed in the report, e.g. your own channel."""

    name: str = Field(min_length=1, description="channel name shown in the report")
    region: str | None = Field(default=None, description="region name; default the first region")
    niche: list[str] = Field(min_length=1, description="topics, from the scenario's topic list")
    followers: int = Field(ge=0, description="initial followers")
    posts_per_day: Positive | None = Field(default=None, description="mean uploads per day (or give a schedule)")
    post_hours: list[Annotated[int, Field(ge=0, le=23)]] | None = Field(
        default=None, min_length=1, description="local hours at which uploads happen (or give a schedule)"
    )
    schedule: list[str] | None = Field(
        default=None,
        min_length=1,
        description='exact local upload times instead: "19:00" every day, "Mon/Wed/Fri 07:30" on those days',
    )
    video_length_s: Positive = Field(description="typical video length in seconds")
    quality: Prob = Field(description="production quality in [0, 1]")
    hook: Prob = Field(description="strength of the first seconds in [0, 1]")
    trending_sound_prob: Prob | None = Field(
        default=None, description="chance an upload uses a trending sound; default videos.trending_sound_prob"
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_readable(cls, v: list[str] | None) -> list[str] | None:
        for entry in v or []:
            schedule_slot(entry)
        return v

    @model_validator(mode="after")
    def _posting_given_once(self) -> Featured:
        rate = self.posts_per_day is not None and self.post_hours is not None
        if bool(self.schedule) == rate or (self.posts_per_day is None) != (self.post_hours is None):
            raise ValueError("expected posts_per_day and post_hours, or a schedule (one of the two)")
        return self

    def uploads_per_day(self) -> float:
        """Mean uploads per day, from the rate or the schedule."""
        if self.schedule:
            return sum(len(schedule_slot(e)[0]) for e in self.schedule) / 7.0
        return float(self.posts_per_day or 0.0)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day 0 of a run, 00:00 UTC, is a Monday."""


def schedule_slot(entry: str) -> tuple[tuple[int, ...], int]:
    """(weekdays, local minute) of a schedule entry such as "19:00" or "Mon/Wed/Fri 07:30".

    Raises:
        ValueError: not of that form.
    """
    *days, clock = entry.strip().split(" ") if entry.strip() else [""]
    hours, _, minutes = clock.partition(":")
    names = [d.lower() for d in "/".join(days).split("/") if d] if days else list(WEEKDAYS)
    if (
        len(days) > 1
        or not (hours.isdecimal() and minutes.isdecimal() and len(minutes) == 2)
        or not (int(hours) < 24 and int(minutes) < 60)
        or any(d not in WEEKDAYS for d in names)
    ):
        raise ValueError(f'expected a time such as "19:00" or "Mon/Wed/Fri 07:30", found {entry!r}')
    return tuple(sorted({WEEKDAYS.index(d) for d in names})), int(hours) * 60 + int(minutes)


class Videos(Strict):
    """Properties every upload gets."""

    review_delay: Lognormal = Field(
        default=Lognormal(median=20.0, sigma=0.5), description="minutes in review before eligibility"
    )
    sounds: int = Field(default=500, gt=0, description="size of the sound library")
    trending_sounds: int = Field(default=20, ge=0, description="sounds currently trending")
    trending_sound_prob: Prob = Field(default=0.25, description="chance an upload uses a trending sound")
    hashtags: int = Field(default=2000, gt=0, description="size of the hashtag vocabulary")
    hashtags_per_video: int = Field(default=3, ge=1, le=30, description="hashtags on each upload")
    styles: int = Field(
        default=8, ge=1, le=64, description="latent styles of sounds and hashtags users have tastes over"
    )
    trend_rise: Minutes = Field(default=parse_duration("1d"), description="time a trending sound takes to peak")
    trend_decay: Minutes = Field(default=parse_duration("2d"), description="e-folding time of a trend's decline")
    spam_prob: Prob = Field(default=0.02, description="share of uploads that are spam")
    duplicate_prob: Prob = Field(default=0.03, description="share of uploads that re-upload an earlier video")
    sensitive_prob: Prob = Field(default=0.02, description="share of uploads with sensitive content")
    review_catch: Prob = Field(default=0.8, description="chance a review blocks a spam or duplicate video")

    @model_validator(mode="after")
    def _trending_within_library(self) -> Videos:
        if self.trending_sounds > self.sounds:
            raise ValueError("trending_sounds: expected at most `sounds`")
        return self


class Reaction(Strict):
    """One reaction's probability as a logistic model of the video and the match.

    ``logit p = logit(base) + quality*(q-0.5) + hook*(h-0.5) + interest*log(affinity)
    + length*log2(seconds/10) + style*log(taste) + trend*popularity``, where affinity is
    the user's true interest in the topic and taste their true taste for the sound's and
    hashtags' styles, both relative to an even spread (1 = average), and popularity is
    the sound's trend now, from 0 (not trending) to 1 (at its peak).
    """

    base: Prob = Field(description="probability for an average video, user and length")
    quality: float = Field(default=0.0, description="logit per unit of quality")
    hook: float = Field(default=0.0, description="logit per unit of hook")
    interest: float = Field(default=0.0, description="logit per unit of log affinity")
    length: float = Field(default=0.0, description="logit per doubling of length over 10 s")
    style: float = Field(default=0.0, description="logit per unit of log style taste (sound and hashtags)")
    trend: float = Field(default=0.0, description="logit at the peak of the sound's trend (0 off-trend)")


class Engagement(Strict):
    """How synthetic users react (the world, never seen by the recommender)."""

    skip: Reaction = Field(
        default=Reaction(base=0.25, quality=-1.0, hook=-3.0, interest=-0.5, length=0.2, style=-0.3, trend=-0.4),
        description="swipe away within the first seconds",
    )
    complete: Reaction = Field(
        default=Reaction(base=0.66, quality=2.5, hook=0.5, interest=0.5, length=-0.9, style=0.3),
        description="finish, given not skipped (longer is harder)",
    )
    replay: Reaction = Field(
        default=Reaction(base=0.15, quality=2.0, interest=0.4, length=-0.6, trend=0.3),
        description="watch again, given finished",
    )
    like: Reaction = Field(
        default=Reaction(base=0.033, quality=2.5, interest=0.6, style=0.3, trend=0.5),
        description="like, scaled by the share watched",
    )
    comment: Reaction = Field(
        default=Reaction(base=0.005, quality=2.0, interest=0.5), description="comment, scaled by watch"
    )
    share: Reaction = Field(
        default=Reaction(base=0.0055, quality=2.5, interest=0.5, trend=0.5), description="share, scaled by watch"
    )
    favorite: Reaction = Field(
        default=Reaction(base=0.006, quality=2.0, interest=0.5, style=0.3), description="save, scaled by watch"
    )
    follow: Reaction = Field(
        default=Reaction(base=0.004, quality=2.0, interest=0.7), description="follow, given finished"
    )
    not_interested: Reaction = Field(
        default=Reaction(base=0.004, quality=-1.0, interest=-0.2, style=-0.2),
        description="mark not interested, given skipped",
    )
    hide_creator: Prob = Field(default=0.1, description="chance a 'not interested' also hides the creator")
    hide_sound: Prob = Field(default=0.05, description="chance a 'not interested' also hides the sound")
    report: Reaction = Field(default=Reaction(base=0.0005, quality=-1.0), description="report the video, given skipped")
    flagged_report: float = Field(
        default=4.0, ge=0.0, le=20.0, description="logit added to reporting spam and duplicates"
    )
    language_mismatch: float = Field(
        default=3.0, ge=0.0, description="logit added to skip when the user does not speak the language"
    )
    skip_seconds: float = Field(
        default=2.25,
        ge=0.0,
        le=60.0,
        description="mean seconds a skip watches before swiping away (uniform up to twice this, at most half)",
    )
    swipe_seconds: float = Field(
        default=4.0, ge=0.0, le=60.0, description="seconds of the next loop a finisher watches before swiping on"
    )
    replay_seconds: float = Field(
        default=8.0, ge=0.0, le=600.0, description="mean seconds a replay watches beyond the first loop"
    )


class AbsoluteGate(Strict):
    """Fixed minimum rates per impression at this stage; judges every video from the first (no warm-up)."""

    type: Literal["absolute"] = Field(default="absolute", description="kind of gate")
    completion: Prob | None = Field(default=None, description="minimum completion rate")
    like: Prob | None = Field(default=None, description="minimum like rate")
    comment: Prob | None = Field(default=None, description="minimum comment rate")
    share: Prob | None = Field(default=None, description="minimum share rate")
    follow: Prob | None = Field(default=None, description="minimum follow rate")
    avg_watched: Prob | None = Field(
        default=None, description="minimum average share of the video watched (replays count once)"
    )
    watch_time: Positive | None = Field(default=None, description="minimum mean seconds watched per view")

    def thresholds(self) -> dict[str, float]:
        """The rates this gate checks, with their minimums."""
        return {a: v for a in GATE_MEASURES if (v := getattr(self, a)) is not None}


def _default_score_weights() -> dict[RateName, float]:
    return {"completion": 1.0, "like": 4.0, "comment": 8.0, "share": 10.0, "follow": 20.0}


class ScoreGate(Strict):
    """A weighted sum of the stage's rates must reach a minimum; judges every video from the first (no warm-up)."""

    type: Literal["score"] = Field(default="score", description="kind of gate")
    weights: dict[RateName, float] = Field(default_factory=_default_score_weights, description="weight of each rate")
    min: float = Field(ge=0.0, description="minimum weighted score")


class PercentileGate(Strict):
    """Relative gate: the score must be in the top share of recent videos at this stage.

    Until the stage has ``warmup`` earlier evaluations to rank against, every video passes it.
    """

    type: Literal["percentile"] = Field(default="percentile", description="kind of gate")
    top: Share = Field(description="share of recently evaluated videos that pass, e.g. 0.2")
    weights: dict[RateName, float] = Field(
        default_factory=_default_score_weights, description="weight of each rate in the score"
    )
    history: int = Field(default=200, ge=1, description="recent evaluations compared against")
    warmup: int = Field(
        default=10, ge=1, description="evaluations needed before it ranks: until then every video passes"
    )

    @model_validator(mode="after")
    def _warmup_within_history(self) -> PercentileGate:
        if self.warmup > self.history:
            raise ValueError(f"warmup: expected at most history ({self.history}), found {self.warmup}")
        return self


Gate = Annotated[AbsoluteGate | ScoreGate | PercentileGate, Field(discriminator="type")]


class EarlyStop(Strict):
    """Stop a video that is clearly failing a rate gate before its pool is served."""

    min_views: int = Field(default=100, ge=1, description="views in the stage before a video can stop early")
    confidence: float = Field(
        default=0.99, gt=0.5, lt=1.0,
        description="one-sided confidence, at each tick, that a rate gate's true rate is below its minimum",
    )  # fmt: skip


class Stage(Strict):
    """One pool of the ladder."""

    pool: int = Field(gt=0, description="impressions this stage may serve")
    window: Minutes = Field(description="time allowed to serve the pool before evaluation")
    gates: list[Gate] = Field(default_factory=list, description="all must pass to enter the next pool")
    early_stop: EarlyStop | None = Field(
        default=None, description="stop a clearly failing video early (absolute rate gates only); null: never"
    )


def _default_ladder() -> list[Stage]:
    # Pool sizes at the low end of the folklore ranges; gates from the same guides.
    def stage(pool: int, window: str, **rates: float) -> Stage:
        # A video clearly below a gate stops before its pool is served, as the platform's tests do.
        early = EarlyStop() if rates else None
        return Stage(pool=pool, window=parse_duration(window), gates=[AbsoluteGate(**rates)], early_stop=early)

    return [
        stage(300, "12h", completion=0.30, like=0.035),
        stage(3_000, "24h", completion=0.35, like=0.05),
        stage(10_000, "48h", completion=0.40, like=0.06, share=0.005),
        stage(100_000, "72h", completion=0.45, like=0.07, share=0.008, comment=0.005),
        stage(300_000, "96h", completion=0.50, like=0.08, share=0.01, comment=0.008),
        stage(1_000_000, "5d", completion=0.60, like=0.09, share=0.01, comment=0.01),
        stage(5_000_000, "7d"),
    ]


def _default_signal_weights() -> dict[Signal, float]:
    # Ordered as the audit found: follows personalize most, then likes, then watch time.
    return {
        "watch": 0.3,
        "completion": 0.3,
        "replay": 0.4,
        "like": 1.0,
        "comment": 1.2,
        "share": 1.5,
        "favorite": 1.0,
        "follow": 3.0,
        "not_interested": -3.0,
    }


Signal = Literal["watch", "completion", "replay", "like", "comment", "share", "favorite", "follow", "not_interested"]


class WeakSignals(Strict):
    """Signals users do not actively express: each multiplies a score by at most exp(weight)."""

    language: float = Field(default=1.0, ge=0.0, le=10.0, description="log-score bonus for a language the user speaks")
    country: float = Field(
        default=0.1, ge=0.0, le=10.0, description="log-score bonus for a creator in the user's region"
    )
    device: float = Field(
        default=0.1, ge=0.0, le=10.0, description="log-score weight of the video's observed value on the user's device"
    )


class Recommender(Strict):
    """The system: what it learns from signals and how it fills feeds."""

    signal_weights: dict[Signal, float] = Field(
        default_factory=_default_signal_weights, description="value of each observed action"
    )
    completion_length: float = Field(
        default=0.5,
        ge=0.0,
        le=3.0,
        description="a completion counts (seconds / 10) ** this: longer finishes weigh more",
    )
    learning_rate: Prob = Field(default=0.5, description="step of a user's topic, sound and hashtag estimates per view")
    picked_prior: Positive = Field(
        default=2.5, description="starting estimate of a topic picked at signup (others start at 1)"
    )
    sound_buckets: int = Field(default=16, ge=1, le=256, description="hashed sound estimates kept per user")
    hashtag_buckets: int = Field(default=16, ge=1, le=256, description="hashed hashtag estimates kept per user")
    exploration: Prob = Field(
        default=0.08, description="share of slots given to a video outside the user's estimated top interests"
    )
    candidates: int = Field(
        default=4,
        ge=1,
        le=64,
        description="regular candidates ranked per feed slot: a request of k slots ranks k x this",
    )
    follow_candidates: Prob = Field(
        default=0.35, description="chance a slot's candidates include a followed creator's latest video"
    )
    other_language: Prob = Field(default=0.1, description="share of regular draws that may be in any language")
    weak_signals: WeakSignals = Field(default_factory=WeakSignals, description="language, country and device")
    similar_users: float = Field(
        default=0.5, ge=0.0, le=10.0, description="log-score weight of a video's observed value in the user's segment"
    )
    cold_start_views: int = Field(
        default=30, ge=0, description="views before a user who picked no categories leaves the popular feed"
    )
    popular_candidates: Prob = Field(
        default=0.5, description="share of a cold-start user's candidates drawn from popular videos"
    )
    popular_half_life: Minutes = Field(
        default=parse_duration("1d"), description="age at which a popular video's pull halves"
    )
    not_interested_damping: Prob = Field(
        default=0.8, description="chance a video whose creator or sound the user marked not interested is passed over"
    )
    reports_to_review: int = Field(default=3, ge=1, description="reports that can send a video back to review")
    report_rate_to_review: Prob = Field(
        default=0.003, description="reports per view that, with reports_to_review reached, send it back to review"
    )
    prior_views: Positive = Field(
        default=50.0, description="pseudo-views shrinking a video's observed rates toward the average"
    )


class Run(Strict):
    """Simulated time."""

    duration: Minutes = Field(default=parse_duration("3d"), description="simulated time")
    tick: Minutes = Field(default=15.0, le=240.0, description="feed tick: users active in it scroll together")
    backlog: Annotated[float, BeforeValidator(parse_duration), Field(ge=0.0), PlainSerializer(format_duration)] = Field(
        default=parse_duration("1d"), description="uploads from before the start already in the feed (0 = start empty)"
    )


def _default_topics() -> list[str]:
    return [
        "comedy", "dance", "food", "beauty", "fitness", "gaming", "pets", "music", "diy", "travel",
        "fashion", "sports", "education", "tech", "cars", "parenting", "finance", "art", "news", "outdoors",
    ]  # fmt: skip


class Scenario(Strict):
    """A complete, resolved scenario."""

    name: str = Field(default="defaults", description="label shown in reports")
    seed: int | None = Field(default=None, ge=0, description="root seed; drawn and recorded when empty")
    run: Run = Field(default_factory=Run, description="simulated time")
    topics: list[str] = Field(
        default_factory=_default_topics, min_length=1, max_length=63, description="content topics"
    )
    users: Users = Field(default_factory=Users, description="the audience")
    creators: Creators = Field(default_factory=Creators, description="synthetic creators")
    featured: list[Featured] = Field(default_factory=list, description="creators to follow in the report")
    videos: Videos = Field(default_factory=Videos, description="upload properties")
    engagement: Engagement = Field(default_factory=Engagement, description="the world's reaction model")
    ladder: list[Stage] = Field(default_factory=_default_ladder, min_length=1, description="the pools")
    recommender: Recommender = Field(default_factory=Recommender, description="the system")

    @field_validator("ladder")
    @classmethod
    def _ladder_grows(cls, v: list[Stage]) -> list[Stage]:
        for i in range(1, len(v)):
            if v[i].pool <= v[i - 1].pool:
                raise ValueError(
                    f"expected a ladder that grows: stage {i} pool {v[i].pool} <= stage {i - 1} pool {v[i - 1].pool}"
                )
        return v

    @field_validator("topics")
    @classmethod
    def _topics_unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"expected unique topic names, found {v}")
        return v

    @field_validator("featured")
    @classmethod
    def _featured_refer_to_known_names(cls, v: list[Featured], info: ValidationInfo) -> list[Featured]:
        users, topics = info.data.get("users"), set(info.data.get("topics", []))
        regions = {r.name for r in users.regions} if users else set()
        for f in v:
            if users and f.region is not None and f.region not in regions:
                raise ValueError(f"{f.name}: expected a region in {sorted(regions)}, found {f.region!r}")
            unknown = [t for t in f.niche if t not in topics]
            if topics and unknown:
                raise ValueError(f"{f.name}: expected niche topics from `topics`, found {unknown}")
        names = [f.name for f in v]
        if len(set(names)) != len(names):
            raise ValueError(f"expected unique featured names, found {names}")
        return v
