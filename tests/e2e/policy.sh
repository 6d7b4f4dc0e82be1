#!/usr/bin/env bash
# policy.sh: policy check says whether the 3-2-1 rule holds over the configured repositories
# (copies of the newest data, kinds of media, off-site copies, each repository's max-age),
# and exits non-zero when it does not.
#
# Four repositories in one config, each with its own way to the passphrase: local (disk,
# $DRKIT_PASSWORD), nas (nfs), offsite (s3, off-site, password-file), tape (tape, off-site,
# password-command). Snapshots get there by backup create and backup copy. Asserts, with
# --json ([ok, copies, media, offsite] and which repositories count) and in text:
#   - all empty: exit 1, 1 copy (the live data), 1 medium, 0 off-site; "no: no snapshots"
#   - local with a fresh snapshot (and an older one made after it with --time, so "newest"
#     is by time): 2 copies, still 1 medium (local is a disk, like the live data): exit 1
#   - offsite with a 5-day-old copy and max-age 32d: the rule holds (exit 0, "holds");
#     --quiet prints nothing; with max-age 3d offsite does not count ("no: too old", age
#     5 days): exit 1; after copying the fresh snapshot it counts again
#   - [policy] media = 3 fails until a repository on a third medium (nas) has a fresh copy;
#     a nas declared as "disk" does not add a medium
#   - [policy] offsite = 2 fails until tape (off-site) has a fresh copy; [policy] copies = 6
#     fails with 5
#   - an unreachable repository (wrong passphrase, missing directory): reachable false, its
#     error named, it does not count, the check still reports the others
#   - a second name for the same storage does not count as another copy or medium
#   - [policy] repositories restricts the check; naming an unknown one, or a config without
#     repositories, is a configuration error (exit 2)
#   - --json holds every documented field; policy check leaves no lock file (and, when not
#     run as root, needs no write access)
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq
export TZ=UTC

L=$T/local
N=$T/nas
O=$T/offsite
TP=$T/tape
SRC=$T/src
init_repo "$L"
init_repo "$N"
echo "offsite passphrase" >"$T/offsite.pass"
DRKIT_PASSWORD="offsite passphrase" init_repo "$O"
echo "tape-passphrase" >"$T/tape.pass"
DRKIT_PASSWORD=tape-passphrase init_repo "$TP"
mkdir -p "$SRC"
head -c 500000 /dev/urandom >"$SRC/data.bin"
echo "config" >"$SRC/shop.conf"

OFFSITE_MAX_AGE=32d
NAS_MEDIUM=nfs
# write_conf [LINES...]: the four repositories, then LINES (e.g. a [policy] section)
write_conf() {
    cat >"$DRKIT_CONFIG" <<CONF
[repository "local"]
    url = $L
    medium = disk
    max-age = 2d
[repository "nas"]
    url = $N
    medium = $NAS_MEDIUM
    max-age = 2d
[repository "offsite"]
    url = $O
    password-file = $T/offsite.pass
    medium = s3
    offsite = true
    max-age = $OFFSITE_MAX_AGE
[repository "tape"]
    url = $TP
    password-command = cat '$T/tape.pass'
    medium = tape
    offsite = true
    max-age = 7d
CONF
    printf '%s\n' "$@" >>"$DRKIT_CONFIG"
}
# check_json RC SUMMARY COUNTING MSG: policy check --json exits RC, [ok, copies.have,
# media.have, offsite.have] is SUMMARY and the repositories that count are COUNTING
check_json() {
    run_drkit "$1" policy check --json
    json_valid "$T/out"
    assert_eq "$(jq -c '[.ok, .copies.have, .media.have, .offsite.have]' "$T/out")" "$2" \
        "$4: [ok, copies, media, offsite]"
    assert_eq "$(jq -r '[.repositories[] | select(.counts) | .name] | join(" ")' "$T/out")" "$3" \
        "$4: the repositories that count"
}
# repo_field NAME FILTER: FILTER applied to repository NAME of the last check --json
repo_field() {
    jq -c --arg n "$1" ".repositories[] | select(.name == \$n) | $2" "$T/out"
}
copy_to() { # SNAPSHOT REPOSITORY-NAME (nas has no password-file: $DRKIT_TO_PASSWORD)
    DRKIT_TO_PASSWORD=test-passphrase run_drkit 0 --storage=local backup copy "$1" --to="$2" --json
    assert_eq "$(jq_field "$T/out" .copied)" 1 "snapshots copied to $2"
}

# --- nothing backed up yet -------------------------------------------------------------------------
write_conf
check_json 1 "[false,1,1,0]" "" "four empty repositories"
assert_eq "$(jq -c '[.copies.want, .media.want, .offsite.want]' "$T/out")" "[3,2,1]" "the default rule"
assert_eq "$(jq -c '[.repositories[].name]' "$T/out")" '["local","nas","offsite","tape"]' "repositories checked"
assert_eq "$(jq -c '[.repositories[] | [.reachable, .snapshots, .newest, .age]] | unique' "$T/out")" \
    "[[true,0,null,-1]]" "[reachable, snapshots, newest, age] of empty repositories"
for f in name medium offsite reachable counts newest age max_age snapshots error; do
    assert_eq "$(jq --arg f "$f" '[.repositories[] | has($f)] | all' "$T/out")" true "field $f in repositories"
done
assert_eq "$(repo_field offsite '[.medium, .offsite, .max_age]')" '["s3",true,2764800]' "offsite's settings"
run_drkit 1 policy check
assert_contains "$T/out" '1/3 copies.*1/2 kinds of media.*0/1 off-site: DOES NOT HOLD'
assert_contains "$T/out" '^local +disk +no +\(none\) .*no: no snapshots'
assert_contains "$T/err" 'the 3-2-1 rule does not hold'
ok "four empty repositories: exit 1, only the live data counts (1 copy, 1 medium, 0 off-site)"

# --- local: a fresh snapshot, then an older one ------------------------------------------------------
run_drkit 0 --storage=local backup create --json "$SRC"
NEW=$(jq_field "$T/out" .name)
OLD_TIME=$(date -u -d '5 days ago' '+%Y-%m-%d %H:%M:%S')
run_drkit 0 --storage=local backup create --json --time="$OLD_TIME" "$SRC"
OLD=$(jq_field "$T/out" .name)
check_json 1 "[false,2,1,0]" "local" "local with a fresh snapshot"
assert_eq "$(repo_field local '[.newest, .snapshots, (.age < 600)]')" "[\"$NEW\",2,true]" \
    "local's newest snapshot (by time, not by creation)"
ok "local with a fresh snapshot: 2 copies but 1 medium and 0 off-site: exit 1"

# --- offsite: a 5-day-old copy ----------------------------------------------------------------------
copy_to "$OLD" offsite
check_json 0 "[true,3,2,1]" "local offsite" "a 5-day-old off-site copy, max-age 32d"
age=$(repo_field offsite .age)
[ "$age" -ge $((5 * 86400)) ] && [ "$age" -lt $((5 * 86400 + 600)) ] || fail "offsite's age $age s, expected 5 days"
assert_eq "$(repo_field offsite .newest)" "\"$OLD\"" "offsite's newest"
run_drkit 0 policy check
assert_contains "$T/out" '3/3 copies.*2/2 kinds of media.*1/1 off-site: holds'
assert_contains "$T/out" '^offsite +s3 +yes +'"$OLD"' +5d +32d +yes'
run_drkit 0 policy check --quiet
[ ! -s "$T/out" ] || fail "policy check --quiet printed: $(cat "$T/out")"
ok "a 5-day-old off-site copy within max-age 32d: the rule holds (exit 0); --quiet is silent"

OFFSITE_MAX_AGE=3d write_conf
check_json 1 "[false,2,1,0]" "local" "a 5-day-old off-site copy, max-age 3d"
assert_eq "$(repo_field offsite '[.counts, .max_age, .reachable]')" "[false,259200,true]" \
    "offsite with max-age 3d: [counts, max_age, reachable]"
run_drkit 1 policy check --quiet
[ ! -s "$T/out" ] || fail "policy check --quiet printed: $(cat "$T/out")"
assert_contains "$T/err" '2 of 3 copies, 1 of 2 media, 0 of 1 off-site'
OFFSITE_MAX_AGE=3d write_conf
run_drkit 1 policy check
assert_contains "$T/out" '^offsite +s3 +yes +'"$OLD"' +5d +3d +no: too old'
copy_to "$NEW" offsite
check_json 0 "[true,3,2,1]" "local offsite" "a fresh off-site copy, max-age 3d"
OFFSITE_MAX_AGE=32d
ok "max-age: with 3d the 5-day-old copy does not count (exit 1); the fresh copy does"

# --- media ------------------------------------------------------------------------------------------
write_conf "[policy]" "    media = 3"
check_json 1 "[false,3,2,1]" "local offsite" "media = 3 with disk and s3"
assert_eq "$(jq -c '.media.want' "$T/out")" 3 "media wanted"
copy_to "$NEW" nas
NAS_MEDIUM=disk write_conf "[policy]" "    media = 3"
check_json 1 "[false,4,2,1]" "local nas offsite" "media = 3, nas on disk too"
write_conf "[policy]" "    media = 3"
check_json 0 "[true,4,3,1]" "local nas offsite" "media = 3 with disk, nfs and s3"
ok "[policy] media = 3: disk + s3 fail; a nas on 'disk' adds a copy, not a medium; on 'nfs' it holds"

# --- off-site and copies ----------------------------------------------------------------------------
write_conf "[policy]" "    offsite = 2"
check_json 1 "[false,4,3,1]" "local nas offsite" "offsite = 2 with one off-site copy"
copy_to "$NEW" tape
check_json 0 "[true,5,4,2]" "local nas offsite tape" "offsite = 2 with offsite and tape"
write_conf "[policy]" "    copies = 6" "    media = 4" "    offsite = 2"
check_json 1 "[false,5,4,2]" "local nas offsite tape" "copies = 6 with 5"
assert_contains "$T/err" '5 of 6 copies'
write_conf "[policy]" "    copies = 5" "    media = 4" "    offsite = 2"
check_json 0 "[true,5,4,2]" "local nas offsite tape" "copies = 5 with 5"
ok "[policy] offsite = 2 holds once tape (password-command) has a copy; copies = 6 fails with 5, 5 holds"

# --- unreachable repositories ------------------------------------------------------------------------
echo "not the tape passphrase" >"$T/tape.pass"
write_conf "[policy]" "    offsite = 2"
check_json 1 "[false,4,3,1]" "local nas offsite" "tape with a wrong passphrase"
assert_eq "$(repo_field tape '[.reachable, .counts, .snapshots]')" "[false,false,0]" "tape unreachable"
repo_field tape .error | grep -q "wrong passphrase" || fail "tape's error: $(repo_field tape .error)"
run_drkit 1 policy check
assert_contains "$T/err" '^tape: .*wrong passphrase'
assert_contains "$T/out" '^tape +tape +yes +\(unreachable\)'
echo "tape-passphrase" >"$T/tape.pass"
mv "$N" "$T/nas.moved"
write_conf
check_json 0 "[true,4,3,2]" "local offsite tape" "nas missing"
assert_eq "$(repo_field nas '[.reachable, .counts]')" "[false,false]" "nas missing: [reachable, counts]"
[ "$(repo_field nas .error)" != null ] || fail "no error for the missing nas"
mv "$T/nas.moved" "$N"
ok "an unreachable repository (wrong passphrase, missing directory) is named and does not count"

# --- one storage under two names -----------------------------------------------------------------------
ln -s "$L" "$T/local-link"
write_conf '[repository "usb"]' "    url = $T/local-link" "    medium = usb" \
    "[policy]" "    copies = 6" "    media = 5"
check_json 1 "[false,5,4,2]" "local nas offsite tape" "usb is local under another name"
assert_eq "$(repo_field usb '[.reachable, .counts, .newest]')" "[true,false,\"$NEW\"]" "usb: [reachable, counts, newest]"
ok "a second name for the local repository counts neither as a copy nor as a medium"

# --- which repositories ------------------------------------------------------------------------------
write_conf "[policy]" "    repositories = local offsite"
check_json 0 "[true,3,2,1]" "local offsite" "repositories = local offsite"
assert_eq "$(jq -c '[.repositories[].name]' "$T/out")" '["local","offsite"]' "repositories checked"
write_conf "[policy]" "    repositories = local nas"
check_json 1 "[false,3,2,0]" "local nas" "repositories = local nas"
write_conf "[policy]" "    repositories = local nosuch"
run_drkit 2 policy check
assert_contains "$T/err" "nosuch"
printf '[policy]\n    copies = 2\n' >"$DRKIT_CONFIG"
run_drkit 2 policy check
ok "[policy] repositories selects what is checked; an unknown name or no repository at all: exit 2"

# --- read-only ------------------------------------------------------------------------------------
write_conf
if [ "$(id -u)" -ne 0 ]; then # root writes anyway
    chmod -R a-w "$L" "$N" "$O" "$TP"
    on_exit "chmod -R u+w '$L' '$N' '$O' '$TP'"
fi
check_json 0 "[true,5,4,2]" "local nas offsite tape" "all four"
chmod -R u+w "$L" "$N" "$O" "$TP"
for r in "$L" "$N" "$O" "$TP"; do
    [ "$(lock_files "$r")" -eq 0 ] || fail "lock files left in $r"
done
ok "policy check leaves no lock file$([ "$(id -u)" -eq 0 ] || echo "; it needs no write access")"
