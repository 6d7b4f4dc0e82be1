#!/usr/bin/env bash
# config.sh: where the repository and the passphrase come from, and the config file.
#
# Asserts:
#   - the passphrase from $DRKIT_PASSWORD_FILE, from the repository's password-file and
#     password-command in the config, from $DRKIT_PASSWORD, and from a prompt on the terminal
#     (init asks twice; mismatching answers are refused; an empty one too); a failing
#     password-command is a config error (exit 2); no source at all and no terminal: exit 2
#   - $DRKIT_PASSWORD_FILE wins over the config, the config over $DRKIT_PASSWORD
#   - the repository from --repo, --storage=NAME, $DRKIT_REPOSITORY, [core] repository and a
#     config's only [repository]; --storage naming a missing section: exit 2 naming it
#   - the config from --config, $DRKIT_CONFIG and ./drkit.conf; --config of a missing file: 2
#   - examples/drkit.conf is accepted as it is shipped
#   - [source "files"] paths and excludes drive `backup create` without arguments
#   - --target=NAME restores into the [target "NAME"] path
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq script

SRC=$T/src
mkdir -p "$SRC/keep" "$SRC/cache"
echo data >"$SRC/keep/a.txt"
echo junk >"$SRC/cache/page.html"
echo tmp >"$SRC/keep/x.tmp"

unset DRKIT_PASSWORD

# --- passphrase sources -------------------------------------------------------------------------
echo "from-file" >"$T/pass-file"
DRKIT_PASSWORD_FILE=$T/pass-file run_drkit 0 --repo "$T/r1" init --kdf-ops 1 --kdf-mem 1MiB
DRKIT_PASSWORD_FILE=$T/pass-file run_drkit 0 --repo "$T/r1" backup list
DRKIT_PASSWORD=from-file run_drkit 0 --repo "$T/r1" backup list
rc=$(rc_of env DRKIT_PASSWORD=wrong "$DRKIT" --repo "$T/r1" backup list)
assert_eq "$rc" 1 "a wrong passphrase exits 1"
assert_contains "$T/err" "wrong passphrase"
ok "passphrase from \$DRKIT_PASSWORD_FILE and \$DRKIT_PASSWORD; a wrong one exits 1"

cat >"$T/c1.conf" <<CONF
[repository "main"]
    url = $T/r1
    password-file = $T/pass-file
CONF
run_drkit 0 --config "$T/c1.conf" backup list
DRKIT_PASSWORD=wrong run_drkit 0 --config "$T/c1.conf" backup list
ok "the config's password-file, over \$DRKIT_PASSWORD"

echo "wrong" >"$T/wrong-file"
rc=$(rc_of env DRKIT_PASSWORD_FILE="$T/wrong-file" "$DRKIT" --config "$T/c1.conf" backup list)
assert_eq "$rc" 1 "\$DRKIT_PASSWORD_FILE wins over the config's password-file"
ok "\$DRKIT_PASSWORD_FILE wins over the config"

cat >"$T/c2.conf" <<CONF
[repository "main"]
    url = $T/r1
    password-command = "printf 'from-file\\\\n'"
CONF
run_drkit 0 --config "$T/c2.conf" backup list
cat >"$T/c3.conf" <<CONF
[repository "main"]
    url = $T/r1
    password-command = "exit 3"
CONF
rc=$(rc_of "$DRKIT" --config "$T/c3.conf" backup list)
assert_eq "$rc" 2 "a failing password-command is a config error"
assert_contains "$T/err" "password-command"
ok "password-command; a failing one exits 2"

rc=$(rc_of setsid "$DRKIT" --repo "$T/r1" backup list </dev/null)
assert_eq "$rc" 2 "no passphrase source and no terminal"
assert_contains "$T/err" "no passphrase"
ok "no passphrase and no terminal: exit 2 with a hint"

# a terminal: `script` gives drkit a pty whose input is our stdin; answers come after the
# prompts (typed ahead, the pty itself would echo them before drkit turns echo off)
answer() { # LINE...
    local l
    for l in "$@"; do
        sleep 0.4
        printf '%s\n' "$l"
    done
    sleep 0.4
}
answer tty-pass tty-pass | timeout 20 script -qec "'$DRKIT' --repo '$T/r2' init --kdf-ops 1 --kdf-mem 1MiB" /dev/null >"$T/out" 2>&1 || {
    cat "$T/out" >&2
    fail "init on a terminal"
}
assert_contains "$T/out" "Passphrase for the new repository"
assert_contains "$T/out" "Repeat the passphrase"
assert_not_contains "$T/out" "tty-pass"
DRKIT_PASSWORD=tty-pass run_drkit 0 --repo "$T/r2" backup list
answer tty-pass | timeout 20 script -qec "'$DRKIT' --repo '$T/r2' backup list" /dev/null >"$T/out" 2>&1 ||
    fail "backup list with the passphrase typed on a terminal"
assert_contains "$T/out" "Repository passphrase"
answer one two | timeout 20 script -qec "'$DRKIT' --repo '$T/r3' init" /dev/null >"$T/out" 2>&1 && fail "mismatching passphrases were accepted"
assert_contains "$T/out" "do not match"
[ ! -e "$T/r3/config" ] || fail "a repository was created with mismatching passphrases"
answer "" "" | timeout 20 script -qec "'$DRKIT' --repo '$T/r3' init" /dev/null >"$T/out" 2>&1 && fail "an empty passphrase was accepted"
assert_contains "$T/out" "empty passphrase"
ok "init on a terminal asks twice without echo; mismatch and empty refused"

export DRKIT_PASSWORD=from-file

# --- choosing the repository ---------------------------------------------------------------------
cat >"$T/c4.conf" <<CONF
[core]
    repository = second
[repository "first"]
    url = $T/r1
[repository "second"]
    url = $T/r2
    password-file = $T/tty-pass
[target "test"]
    path = $T/restore-test
[source "files"]
    type = files
    path = $SRC
    exclude = $SRC/cache
    exclude = "*.tmp"
CONF
echo tty-pass >"$T/tty-pass"
run_drkit 0 --config "$T/c4.conf" backup create --json
assert_eq "$(jq_field "$T/out" '.paths[0]')" "$SRC" "paths from [source]"
run_drkit 0 --config "$T/c4.conf" backup ls latest "$SRC" -R
assert_contains "$T/out" "keep/a.txt"
assert_not_contains "$T/out" "cache"
assert_not_contains "$T/out" "x.tmp"
ok "backup create without paths uses [source \"files\"]; its excludes apply"
run_drkit 0 --config "$T/c4.conf" backup list --json
n2=$(jq_field "$T/out" 'length')
assert_eq "$n2" 1 "[core] repository picked the second repository"
run_drkit 0 --config "$T/c4.conf" --storage=first backup list --json
assert_eq "$(jq_field "$T/out" 'length')" 0 "--storage=first"
run_drkit 0 --config "$T/c4.conf" backup list --storage=first --json
assert_eq "$(jq_field "$T/out" 'length')" 0 "--storage after the command"
DRKIT_REPOSITORY=$T/r1 run_drkit 0 backup list --json
assert_eq "$(jq_field "$T/out" 'length')" 0 "\$DRKIT_REPOSITORY"
rc=$(rc_of "$DRKIT" --config "$T/c4.conf" --storage=nope backup list)
assert_eq "$rc" 2 "--storage naming a missing section"
assert_contains "$T/err" 'no \[repository "nope"\]'
ok "repository from --storage, [core] repository, \$DRKIT_REPOSITORY; a missing name exits 2"

run_drkit 0 --config "$T/c4.conf" backup restore latest --target=test
[ -f "$T/restore-test$SRC/keep/a.txt" ] || fail "--target=test did not restore into [target \"test\"]"
ok "--target=NAME restores into the [target] path"

# --- finding the config --------------------------------------------------------------------------
DRKIT_CONFIG=$T/c4.conf run_drkit 0 backup list --json
assert_eq "$(jq_field "$T/out" 'length')" 1 "\$DRKIT_CONFIG"
mkdir "$T/cwd"
cp "$T/c4.conf" "$T/cwd/drkit.conf"
(cd "$T/cwd" && unset DRKIT_CONFIG && "$DRKIT" backup list --json) >"$T/out" 2>"$T/err" || fail "./drkit.conf"
assert_eq "$(jq_field "$T/out" 'length')" 1 "./drkit.conf"
rc=$(rc_of "$DRKIT" --config "$T/missing.conf" backup list)
assert_eq "$rc" 2 "--config of a missing file"
assert_contains "$T/err" "missing.conf"
ok "config from --config, \$DRKIT_CONFIG and ./drkit.conf; a missing --config exits 2"

# the shipped example parses (it points at /var/backups/drkit, which does not exist here)
rc=$(rc_of "$DRKIT" --config "$DRKIT_SOURCE/examples/drkit.conf" backup list)
assert_eq "$rc" 1 "examples/drkit.conf parses (and names a repository that is not here)"
assert_contains "$T/err" "no repository at '/var/backups/drkit'"
ok "examples/drkit.conf is valid"
