# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ACL planner of redis_acl: validation, comparison, plan and masks
(against real servers in tests/integration/test_redis_acl.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest

from ansible_collections.hardened.redis.plugins.module_utils._acl import (
    PROBE,
    InvalidUsers,
    Labels,
    describe,
    expected_view,
    passwords_in_rules,
    plan_delete,
    plan_user,
    same_rules,
    validate_users,
    view,
)


def sha(p):
    return hashlib.sha256(p.encode()).hexdigest()


def live(flags=("on",), passwords=(), commands="+@all -@dangerous", keys="~*", channels="&*"):
    return {"flags": list(flags), "passwords": list(passwords), "commands": commands, "keys": keys,
            "channels": channels, "selectors": []}


def app(*passwords, rules="on resetpass ~* &* +@all -@dangerous"):
    return validate_users([{"name": "app", "rules": rules, "passwords": list(passwords)}])[0]


def test_passwords_become_unique_hashes_in_order():
    user = app("new", "old", "new")
    assert user.hashes == [sha("new"), sha("old")]
    assert user.enabled and user.probe_tokens()[-1] == "off"
    assert not app("x", rules="on ~* off").enabled
    assert not app("x", rules="~* +@all").enabled, "a user the rules do not switch on is off"


@pytest.mark.parametrize("user,message", [
    ({"name": "app", "rules": "on >hunter2"}, "rules of user app hold a password"),
    ({"name": "app", "rules": "on <hunter2"}, "rules of user app hold a password"),
    ({"name": "app", "rules": "on !" + "0" * 64}, "rules of user app hold a password"),
    ({"name": "app", "rules": "on nopass", "passwords": ["hunter2"]}, "nopass in its rules and passwords"),
    ({"name": "a b"}, "must not contain whitespace"),
    ({"name": "it's"}, "must not contain whitespace"),
    ({"name": PROBE}, "probe user"),
    ({"name": ""}, "has no name"),
    ({"name": "app", "passwords": "hunter2"}, "must be a list"),
    ({"name": "app", "passwords": [None]}, "empty password"),
    ("app", "must be a dict"),
])
def test_bad_users_are_refused_without_the_secret(user, message):
    with pytest.raises(InvalidUsers) as err:
        validate_users([user])
    assert message in str(err.value)
    assert "hunter2" not in str(err.value) and "0" * 64 not in str(err.value)


def test_a_user_listed_twice_is_refused():
    with pytest.raises(InvalidUsers, match="user app is listed twice"):
        validate_users([{"name": "app"}, {"name": "app"}])


def test_passwords_in_rules_are_found_for_masking():
    params = {"users": [{"name": "a", "rules": "on >hunter2 ~*"}, {"name": "b", "rules": None}, "junk"]}
    assert passwords_in_rules(params) == [">hunter2", "hunter2"]
    assert passwords_in_rules({}) == []


def test_view_takes_a_flat_reply_or_a_dict():
    flat = ["flags", ["on"], "passwords", [sha("a")], "commands", "+@all", "keys", "~*", "channels", "&*",
            "selectors", []]
    assert view(flat) == view(dict(zip(flat[0::2], flat[1::2])))
    assert view(flat)["passwords"] == [sha("a")]
    assert view([b"flags", [b"off"], b"commands", b"-@all"]) == {"flags": ["off"], "passwords": [], "commands": "-@all"}
    assert view(None) is None


def test_probe_comparison_ignores_passwords_on_off_of_the_probe_and_sanitize_flags():
    user = app("x")
    probe = live(flags=("off", "sanitize-payload"))  # the probe is always off; Redis 7.0's reset adds sanitize
    assert same_rules(live(passwords=[sha("other")]), probe, user)
    assert not same_rules(live(flags=("off",)), probe, user), "a disabled user must be switched on"
    assert not same_rules(live(commands="+@all"), probe, user)
    assert not same_rules(None, probe, user)
    # named in the rules, the flag is compared
    strict = app("x", rules="on sanitize-payload ~* &* +@all -@dangerous")
    assert not same_rules(live(), probe, strict)
    assert same_rules(live(flags=("on", "sanitize-payload")), probe, strict)


def test_plan_rotation_adds_then_removes_in_place():
    probe = live(flags=("off",))
    phase1 = plan_user(app("new", "old"), live(passwords=[sha("old")]), probe)
    assert phase1.kind == "passwords"
    assert phase1.args == ["ACL", "SETUSER", "app", "#" + sha("new")]
    assert plan_user(app("new", "old"), live(passwords=[sha("old"), sha("new")]), probe).kind == "none"
    phase2 = plan_user(app("new"), live(passwords=[sha("old"), sha("new")]), probe)
    assert phase2.args == ["ACL", "SETUSER", "app", "!" + sha("old")]
    assert (phase2.added, phase2.removed) == ([], [sha("old")])


def test_plan_new_rules_or_new_user_redefine_in_one_command():
    probe = live(flags=("off",), commands="+@all -@dangerous -@scripting")
    user = app("p", rules="on ~* &* +@all -@dangerous -@scripting")
    action = plan_user(user, live(passwords=[sha("p")]), probe)
    assert action.kind == "redefine"
    assert action.args == ["ACL", "SETUSER", "app", "reset", "on", "~*", "&*", "+@all", "-@dangerous", "-@scripting",
                           "#" + sha("p")]
    assert (action.added, action.removed) == ([], [])
    created = plan_user(user, None, probe)
    assert created.kind == "create" and created.added == [sha("p")]
    gone = plan_delete("old", live(passwords=[sha("q")]))
    assert gone.args == ["ACL", "DELUSER", "old"] and gone.removed == [sha("q")]


def test_labels_mask_every_hash_and_keep_equality():
    labels = Labels()
    text = labels.command(["ACL", "SETUSER", "app", "#" + sha("new"), "!" + sha("old"), "#" + sha("new")])
    assert text == "ACL SETUSER app #<password 1> !<password 2> #<password 1>"
    assert labels(sha("old")) == "<password 2>"
    assert labels.command(["ACL", "SETUSER", "app", "~#notahash"]) == "ACL SETUSER app ~#notahash"


def test_describe_and_expected_view():
    labels = Labels()
    before = describe("app", live(passwords=[sha("old")]), labels)
    assert before == "user app on #<password 1> ~* &* +@all -@dangerous"
    after = describe("app", expected_view(live(flags=("off", "sanitize-payload")), app("new", "old")), labels)
    assert after == "user app on sanitize-payload #<password 2> #<password 1> ~* &* +@all -@dangerous"
    assert describe("gone", None, labels) is None
    assert sha("old") not in before + after


def test_labels_mask_hashes_in_any_text():
    labels = Labels()
    assert labels(sha("old")) == "<password 1>"
    text = "ERR Error in ACL SETUSER modifier '!%s': no such password (%s)" % (sha("old"), sha("x"))
    assert labels.text(text) == "ERR Error in ACL SETUSER modifier '!<password 1>': no such password (<password 2>)"
