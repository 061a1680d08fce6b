"""Scenario files: schema, positions in errors, extends:, --set, and the defaults reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tiktok_sim.errors import ScenarioError
from tiktok_sim.scenario import Scenario, load_scenario, loader, scenario_sha256
from tiktok_sim.scenario.durations import format_duration, parse_duration
from tiktok_sim.scenario.loader import load_sweep
from tiktok_sim.scenario.reference import defaults_yaml, dump_yaml
from tiktok_sim.scenario.schema import AbsoluteGate, PercentileGate, ScoreGate
from tiktok_sim.world.population import build_population

from .conftest import SCENARIOS


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def only_problem(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    assert len(info.value.problems) == 1, info.value.problems
    return str(info.value.problems[0])


@pytest.mark.parametrize(("text", "minutes"), [("90m", 90), ("72h", 4320), ("3d", 4320), (15, 15), ("1.5h", 90)])
def test_durations_parse(text: object, minutes: float) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("bad", ["3x", "h", "", True, None, "-1h"])
def test_bad_durations_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(bad)


def test_durations_render_in_the_largest_exact_unit() -> None:
    assert [format_duration(m) for m in (4320, 90, 120, 45)] == ["3d", "90m", "2h", "45m"]


def test_defaults_file_is_generated_from_the_schema() -> None:
    assert (SCENARIOS / "defaults.yaml").read_text() == defaults_yaml()
    assert load_scenario(SCENARIOS / "defaults.yaml") == Scenario()


def test_the_defaults_show_every_gate_type_and_key() -> None:
    reference = defaults_yaml()
    for gate in (AbsoluteGate, ScoreGate, PercentileGate):
        kind = gate.model_fields["type"].default
        assert f"type: {kind}" in reference, kind
        assert all(f" {key}: " in reference for key in gate.model_fields), kind
    assert "until the stage has `warmup` evaluations" in reference


def test_every_default_key_has_a_comment() -> None:
    keys: dict[str, bool] = {}
    for line in defaults_yaml().splitlines():
        body = line.strip().removeprefix("- ")
        if body.startswith("#") or ":" not in body:
            continue
        key = body.split(":", 1)[0]
        keys[key] = keys.get(key, False) or "  # " in body
    assert keys and all(keys.values()), [k for k, commented in keys.items() if not commented]


@pytest.mark.parametrize(
    "name", ["quickstart.yaml", "bench.yaml", "defaults.yaml", "posting_time.yaml", "national.yaml"]
)
def test_shipped_scenarios_validate(name: str) -> None:
    assert isinstance(load_scenario(SCENARIOS / name), Scenario)


def test_the_national_world_caps_no_pool_of_the_ladder() -> None:
    national = load_scenario(SCENARIOS / "national.yaml")
    # Its languages at 200k users, scaled: the population's shares do not depend on its size.
    sample = build_population(
        load_scenario(SCENARIOS / "national.yaml", ["users.count=200000"]), np.random.default_rng(0)
    )
    speakers = [int((sample.langmask >> bit & 1).sum()) for bit in range(len(sample.languages))]
    largest_audience = max(speakers) / 200_000 * national.users.count
    assert largest_audience > 1.1 * max(stage.pool for stage in national.ladder)


def test_unknown_key_names_position_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n  count: 10\n  sesions_per_day: {median: 3, sigma: 1}\n")
    assert only_problem(path) == (
        f"{path}:3:3: users.sesions_per_day: unknown key 'sesions_per_day'; did you mean 'sessions_per_day'?"
    )


def test_unknown_key_inside_a_tagged_gate(tmp_path: Path) -> None:
    path = write(tmp_path, "ladder:\n  - pool: 10\n    window: 1h\n    gates: [{type: absolute, compltion: 0.3}]\n")
    assert "ladder.0.gates.0.compltion: unknown key 'compltion'; did you mean 'completion'?" in only_problem(path)


def test_out_of_range_probability_is_positioned(tmp_path: Path) -> None:
    path = write(tmp_path, "recommender:\n  exploration: 1.5\n")
    assert only_problem(path) == f"{path}:2:3: recommender.exploration: expected less than or equal to 1, found 1.5"


def test_ladder_must_grow(tmp_path: Path) -> None:
    path = write(tmp_path, "ladder:\n  - {pool: 300, window: 1h}\n  - {pool: 200, window: 1h}\n")
    message = only_problem(path)
    assert message.startswith(f"{path}:1:1: ladder: expected a ladder that grows")


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ("warmup: 0", "ladder.0.gates.0.warmup: expected greater than or equal to 1, found 0"),
        ("history: 50, warmup: 60", "ladder.0.gates.0: warmup: expected at most history (50), found 60"),
    ],
)
def test_a_percentile_gate_warm_up_is_range_checked(tmp_path: Path, gate: str, expected: str) -> None:
    path = write(
        tmp_path, f"ladder:\n  - pool: 10\n    window: 1h\n    gates: [{{type: percentile, top: 0.2, {gate}}}]\n"
    )
    assert expected in only_problem(path)


def test_shares_must_sum_to_one(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n  devices: [{name: a, share: 0.5, session_multiplier: 1}]\n")
    assert "devices: shares must sum to 1, found 0.5" in only_problem(path)


def test_featured_niche_must_be_a_known_topic(tmp_path: Path) -> None:
    text = (
        "featured:\n  - {name: me, niche: [cooking], followers: 1, posts_per_day: 1, post_hours: [9],"
        " video_length_s: 10, quality: 0.5, hook: 0.5}\n"
    )
    assert "featured: me: expected niche topics from `topics`, found ['cooking']" in only_problem(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("users:\n  count: 1\n  count: 2\n", ":3:3: invalid YAML: found duplicate key"),
        ("users:\n\tcount: 1\n", ":2:1: invalid YAML: expected spaces for indentation, found a tab"),
        ("users: [1, 2\n", ":2:1: invalid YAML"),
        ("- 1\n- 2\n", ":1:1: expected a mapping of scenario keys, found a list"),
        ("   \n", "expected a mapping of scenario keys, found an empty file"),
    ],
)
def test_broken_yaml_gives_one_positioned_line(tmp_path: Path, text: str, expected: str) -> None:
    message = only_problem(write(tmp_path, text))
    assert message.startswith(str(tmp_path)) and expected in message and "\n" not in message


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\x00\x01\x02binary")
    assert only_problem(path) == f"{path}: expected YAML text, found binary data"


def test_extends_deep_merges_maps_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "users:\n  count: 500\n  videos_per_session: 3\ntopics: [a, b, c]\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nusers:\n  count: 700\ntopics: [x]\n")
    scenario = load_scenario(child)
    assert scenario.users.count == 700  # child wins
    assert scenario.users.videos_per_session == 3  # inherited through the merged map
    assert scenario.topics == ["x"]  # lists replace


def test_extends_errors_point_into_the_right_file(tmp_path: Path) -> None:
    base = write(tmp_path, "users:\n  count: 0\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nname: child\n")
    assert only_problem(child).startswith(f"{base}:2:3: users.count:")


def test_extends_cycle_and_missing_file(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    b = write(tmp_path, "extends: a.yaml\n", "b.yaml")
    assert "extends: expected no cycle, found b.yaml -> a.yaml -> b.yaml" in only_problem(b)
    missing = write(tmp_path, "extends: nowhere.yaml\n", "c.yaml")
    assert only_problem(missing) == f"{missing}:1:1: extends: expected an existing file, found no 'nowhere.yaml'"


def test_a_boolean_in_a_file_is_placed_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n  diurnal: [1, 1, true]\n")
    assert only_problem(path) == f"{path}:2:3: users.diurnal: expected a number, found a boolean"


def test_problems_come_in_document_order_then_the_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "recommender: {exploraton: 1}\nusers:\n  count: 0\nname: [x]\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, ["run.duration=soon", "topics=[a, a]"])
    places = [(p.source, p.line, p.path) for p in info.value.problems]
    assert places == [
        (str(path), 1, "recommender.exploraton"),
        (str(path), 3, "users.count"),
        (str(path), 4, "name"),
        ("--set", 0, "run.duration"),
        ("--set", 0, "topics"),
    ]


def test_a_file_is_parsed_once_however_often_it_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "users: {count: 5, regions: [{name: x, share: 1, utc_offset: 0, languages: [xx]}]}\n"
    path = write(tmp_path, text)
    checked: list[str] = []  # every text the structure guard saw: files and --set values
    monkeypatch.setattr(loader, "check_structure", checked.append)
    loader._parse.cache_clear()
    counts = [load_scenario(path, overrides).users.count for overrides in (["users.count=6"], [], ["users.count=7"])]
    assert counts == [6, 5, 7] and checked.count(text) == 1  # a sweep's points share one parse, not its overrides
    load_scenario(path, ["users.regions.0.name=y"])
    assert load_scenario(path).users.regions[0].name == "x"
    path.write_text(text.replace("5", "9"))  # same size, maybe the same modification time
    assert load_scenario(path).users.count == 9


def test_set_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n  count: 500\n")
    scenario = load_scenario(path, ["users.count=900", "ladder.0.pool=250", "run.duration=2d"])
    assert (scenario.users.count, scenario.ladder[0].pool, scenario.run.duration) == (900, 250, 2880)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("recommender.exploraton=0.1", "--set: recommender.exploraton: unknown key 'exploraton'; did you mean"),
        ("ladder.99.pool=3", "--set: ladder.99.pool: expected a list index below 7, found '99'"),
        ("users.count=lots", "--set: users.count: expected a valid integer"),
        ("users.count", "--set: users.count: expected path.to.key=value"),
        ("users.count.x=1", "--set: users.count.x: users.count is a value, not a mapping or list"),
        # NaN, infinity and booleans are valid YAML numbers to Python, and would each be a silently wrong run.
        ("engagement.like.base=.nan", "--set: engagement.like.base: expected a finite number, found nan"),
        ("users.diurnal.3=.inf", "--set: users.diurnal.3: expected a finite number, found inf"),
        ("run.duration=-.inf", "--set: run.duration: expected a finite number, found -inf"),
        ("users.count=true", "--set: users.count: expected a number, found a boolean"),
        ("recommender.exploration=false", "--set: recommender.exploration: expected a number, found a boolean"),
        ("recommender.signal_weights={like: true}", "--set: recommender.signal_weights: expected a number, found a"),
    ],
)
def test_bad_overrides(tmp_path: Path, override: str, expected: str) -> None:
    assert only_problem(write(tmp_path, "name: x\n"), (override,)).startswith(expected)


def test_scenarios_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Scenario().users.count = 5  # type: ignore[misc]


def test_resolved_dump_round_trips(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "quickstart.yaml", ["featured.0.hook=0.9"])
    again = load_scenario(write(tmp_path, dump_yaml(scenario)))
    assert again == scenario and again.featured[0].hook == 0.9


def test_sweep_block_is_validated_with_positions(tmp_path: Path) -> None:
    path = write(tmp_path, """\
name: x
sweep:
  vary:
    recommender.exploration: [0.05, 0.5]
    featured: nope
    users.count: {lo: 9, hi: 3}
  reps: 0
  sampel: 2
""")  # fmt: skip
    with pytest.raises(ScenarioError) as info:
        load_sweep(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:5:5: sweep.vary.featured: expected a valid list, found 'nope'",
        f"{path}:6:5: sweep.vary.users.count: expected lo < hi, found lo 9 and hi 3",
        f"{path}:7:3: sweep.reps: expected greater than or equal to 1, found 0",
        f"{path}:8:3: sweep.sampel: unknown key 'sampel'; did you mean 'sample'?",
    ]
    mixed = write(tmp_path, "sweep:\n  vary:\n    users.count: {lo: 10, hi: 20}\n", "mixed.yaml")
    with pytest.raises(ScenarioError, match=r"expected lists of values without sample, found a range for users\.count"):
        load_sweep(mixed)


def test_a_sweep_block_makes_at_most_max_points(tmp_path: Path) -> None:
    def grid(axes: int) -> str:  # ten values per axis
        return "sweep:\n  vary:\n" + "".join(f"    k{i}: [{', '.join(map(str, range(10)))}]\n" for i in range(axes))

    plan = load_sweep(write(tmp_path, grid(3), "largest.yaml"))
    assert plan is not None and len(plan.axes) == 3  # exactly MAX_POINTS
    too_many = write(tmp_path, grid(6))  # a million points from six short lines
    with pytest.raises(ScenarioError, match=r":1:1: sweep: expected a grid of at most 1,000 points, found 1,000,000$"):
        load_sweep(too_many)
    sampled = write(tmp_path, "sweep:\n  vary:\n    users.count: {lo: 1, hi: 9}\n  sample: 1001\n", "sampled.yaml")
    with pytest.raises(ScenarioError, match=r":4:3: sweep.sample: expected less than or equal to 1000, found 1001$"):
        load_sweep(sampled)


def test_sweep_block_is_not_part_of_the_scenario(tmp_path: Path) -> None:
    plain = load_scenario(write(tmp_path, "name: x\n", "plain.yaml"))
    swept = write(tmp_path, """\
name: x
sweep:
  vary:
    users.count: {lo: 10, hi: 20}
    recommender.exploration: {lo: 0.0, hi: 0.5}
  sample: 4
""", "swept.yaml")  # fmt: skip
    assert load_scenario(swept) == plain and scenario_sha256(load_scenario(swept)) == scenario_sha256(plain)
    plan = load_sweep(swept)
    assert plan is not None and (plan.sample, plan.reps) == (4, None)
    assert plan.axes == [("users.count", ["10:20"]), ("recommender.exploration", ["0.0:0.5"])]
    assert plan.origins["users.count"] == (str(swept), 4, 5)
    assert load_sweep(tmp_path / "plain.yaml") is None
    child = write(tmp_path, "extends: swept.yaml\nsweep: {reps: 7}\n", "child.yaml")  # maps deep-merge
    inherited = load_sweep(child)
    assert inherited is not None and (inherited.sample, inherited.reps, len(inherited.axes)) == (4, 7, 2)


def test_sweep_values_become_override_text(tmp_path: Path) -> None:
    path = write(tmp_path, "sweep:\n  vary:\n    featured.0.post_hours: [[3], [19, 20]]\n    name: [a, b]\n")
    plan = load_sweep(path)
    assert plan is not None and plan.axes == [("featured.0.post_hours", ["[3]", "[19, 20]"]), ("name", ["a", "b"])]


def test_a_map_of_another_type_replaces_the_default_instead_of_merging(tmp_path: Path) -> None:
    # the default length is {type: quantiles, points: ...}; a lognormal must not inherit its points
    path = tmp_path / "lognormal.yaml"
    path.write_text("creators: {video_length: {type: lognormal, median: 10, sigma: 1}}\n")
    length = load_scenario(path).creators.video_length
    assert length.type == "lognormal" and length.median == 10.0 and not hasattr(length, "points")


def test_population_sizes_have_a_ceiling(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("users: {count: 10000000000}\ncreators: {count: 1000000000}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert "huge.yaml:1:9: users.count: expected less than or equal to 1000000000, found 10000000000" in text
    assert "creators.count: expected less than or equal to 100000000" in text


def test_featured_entries_can_be_addressed_by_name(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        "featured:\n  - {name: me, niche: [food], followers: 10, posts_per_day: 1, post_hours: [9],\n"
        "     video_length_s: 15, quality: 0.5, hook: 0.5}\n"
    )
    variant = tmp_path / "variant.yaml"
    variant.write_text("extends: base.yaml\nfeatured: {me: {hook: 0.7}}\n")
    me = load_scenario(variant).featured[0]
    assert (me.hook, me.quality, me.niche) == (0.7, 0.5, ["food"])  # one line changes one key
    assert load_scenario(base, ["featured.me.hook=0.9"]).featured[0].hook == 0.9
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: base.yaml\nfeatured:\n  me: {hook: 2}\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml:3:\d+: featured.0.hook: "):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="expected a list index below 1 or one of the names me, found 'you'"):
        load_scenario(base, ["featured.you.hook=0.9"])
