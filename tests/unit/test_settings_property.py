"""Property: whatever YAML and environment a user gives, loading ends in a valid
settings object or in one SettingsError line; never a traceback."""

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.errors import SettingsError
from tasks.settings import BY_ENV, SCHEMA, SECTIONS, Settings, load_settings

KEYS = [s.key.rpartition(".")[2] for s in SCHEMA] + list(SECTIONS)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "10.192.0.0/16",
            "10.0.0.0/30",
            "v1.34.4",
            "stable",
            "true",
            "bridge",
            "~nobody/x",
            "./x.yaml",
            "a\x00b",
            "a" * 40,
        ]
    ),
)
names = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)
SECTION_KEYS = {section: [s.key.rpartition(".")[2] for s in SCHEMA if s.section == section] for section in SECTIONS}
well_formed = st.fixed_dictionaries(
    {},
    optional={
        section: st.dictionaries(st.sampled_from(keys), scalars, max_size=len(keys))
        for section, keys in SECTION_KEYS.items()
    },
)
documents = st.one_of(
    well_formed.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.dictionaries(names, values, max_size=6).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.dictionaries(st.sampled_from(list(SECTIONS)), st.dictionaries(names, values, max_size=5), max_size=4).map(
        yaml.safe_dump
    ),
    st.text(max_size=200),  # anything at all, malformed YAML included
)
env_names = st.one_of(st.sampled_from(sorted(BY_ENV)), st.text(max_size=10).map(lambda t: "K8S_DIND_" + t.upper()))
environments = st.dictionaries(
    env_names, st.one_of(st.text(max_size=20), st.sampled_from(["0", "-1", "3", "yes"])), max_size=4
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents, environ=environments)
def test_any_input_gives_settings_or_one_clear_line(state, document, environ):
    (state / "config.yaml").write_text(document, encoding="utf-8", errors="surrogatepass")
    environ = {k: v for k, v in environ.items() if "\x00" not in k + v}
    try:
        result = load_settings(environ=environ)
    except SettingsError as err:
        message = str(err)
        assert message and "\n" not in message and "Traceback" not in message
    else:
        assert isinstance(result, Settings)
