#!/usr/bin/env bash
# keys.sh: several passphrases open one repository; keys are added, changed and removed, and
# neither a wrong passphrase nor the removal of the last key gets through.
#
# Asserts:
#   - after init, key list --json holds one key: current, with the KDF it was made with
#   - key add (new passphrase from --file, then from $DRKIT_NEW_PASSWORD) prints {"added": ID};
#     key list shows 3 keys; each passphrase opens the repository (also through
#     $DRKIT_PASSWORD_FILE and a config's password-file), lists the same snapshot and restores
#     it identically; key list marks as current the key that opened it (and "*" in the table)
#   - no key file holds a passphrase in clear
#   - a wrong passphrase (env, file, password-command) exits 1 with "wrong passphrase" and
#     prints nothing on stdout; key add/remove/passwd with it change no key
#   - an empty new passphrase, a missing --file: refused (exit 2 / 1), no key added
#   - key passwd (opened with the second passphrase): {"added", "removed"}; the old
#     passphrase is refused, the new one opens, the others still open
#   - key remove of another key by an 8-digit id prefix: {"removed": ID}; its passphrase is
#     refused; removing the key the command opened with is refused (exit 2); an unknown id
#     exits 1; a 3-digit prefix is not accepted
#   - the last key: remove is refused (exit 2, "last key"), the key file stays, it still opens
#   - no key command touched the data: snapshots, index and packs are byte-identical, and at
#     the end check --read-data passes and the snapshot restores identically
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq sha256sum

SRC=$T/src
R=$T/repo
KDF=(--kdf-ops 1 --kdf-mem 1MiB) # weak, tests only: every open tries the keys in turn
P1=test-passphrase                # init_repo's, from common.sh
P2="second passphrase with spaces"
P3=third-passphrase
P4="fourth: 'quoted' \$not-expanded"

init_repo "$R"
mkdir -p "$SRC/sub"
head -c 3000000 /dev/urandom >"$SRC/big.bin"
for i in $(seq 1 20); do echo "file $i" >"$SRC/sub/f$i"; done
ln -s sub/f1 "$SRC/link"
run_drkit 0 --repo "$R" backup create --json "$SRC"
NAME=$(jq_field "$T/out" .name)

# data_manifest: hashes of everything but keys/ and locks/
data_manifest() {
    (cd "$R" && find . -type f ! -path './keys/*' ! -path './locks/*' -print0 | xargs -0 sha256sum) |
        LC_ALL=C sort
}
data_manifest >"$T/data.before"

# keys_now: the key ids, sorted
keys_now() {
    find "$R/keys" -type f -printf '%f\n' | LC_ALL=C sort
}
# with PASS CMD...: run CMD with only PASS as the passphrase
with() {
    local p=$1
    shift
    DRKIT_PASSWORD=$p "$@"
}
# opens PASS: the passphrase opens the repository, lists the snapshot, restores it exactly
opens() {
    with "$1" run_drkit 0 --repo "$R" backup list --json
    assert_eq "$(jq -r '[.[].name] | join(" ")' "$T/out")" "$NAME" "snapshots seen with '$1'"
    rm -rf "$T/res"
    with "$1" run_drkit 0 --repo "$R" backup restore "$NAME" --target "$T/res"
    tree_equal "$SRC" "$T/res$SRC"
    rm -rf "$T/res"
}
# refused PASS: the passphrase does not open the repository
refused() {
    local rc
    rc=$(rc_of env DRKIT_PASSWORD="$1" "$DRKIT" --repo "$R" backup list --json)
    assert_eq "$rc" 1 "exit code of backup list with the passphrase '$1'"
    assert_contains "$T/err" "wrong passphrase"
    [ ! -s "$T/out" ] || fail "backup list with a wrong passphrase printed: $(cat "$T/out")"
}
# current_key PASS: the id key list --json marks current when opened with PASS
current_key() {
    with "$1" run_drkit 0 --repo "$R" key list --json
    json_valid "$T/out"
    jq -r '[.[] | select(.current)] | if length == 1 then .[0].id else "none or several" end' "$T/out"
}

# --- one key after init ---------------------------------------------------------------------------
run_drkit 0 --repo "$R" key list --json
json_valid "$T/out"
assert_eq "$(jq length "$T/out")" 1 "keys after init"
assert_eq "$(jq -c '.[0] | [.current, .kdf_ops, .kdf_mem, .damaged]' "$T/out")" \
    "[true,1,1048576,false]" "[current, kdf_ops, kdf_mem, damaged] of the init key"
K1=$(jq_field "$T/out" '.[0].id')
[[ "$K1" =~ ^[0-9a-f]{64}$ ]] || fail "key id '$K1'"
assert_eq "$(keys_now)" "$K1" "the key file of the init key"
ok "init made one key ($K1), listed as current"

# --- key add ------------------------------------------------------------------------------------------
printf '%s\n' "$P2" >"$T/p2"
run_drkit 0 --repo "$R" key add --file "$T/p2" "${KDF[@]}" --json
json_valid "$T/out"
K2=$(jq_field "$T/out" .added)
[[ "$K2" =~ ^[0-9a-f]{64}$ ]] && [ "$K2" != "$K1" ] || fail "key add: bad id '$K2'"
DRKIT_NEW_PASSWORD=$P3 run_drkit 0 --repo "$R" key add "${KDF[@]}"
assert_contains "$T/out" '^added key [0-9a-f]{8}'
K3=$(keys_now | grep -vx -e "$K1" -e "$K2")
[ "$(printf '%s\n' "$K3" | wc -l)" -eq 1 ] && [ -n "$K3" ] || fail "keys after two adds: $(keys_now)"
assert_contains "$T/out" "^added key ${K3:0:8}"
run_drkit 0 --repo "$R" key list --json
assert_eq "$(jq -r '[.[].id] | sort | join(" ")' "$T/out")" \
    "$(printf '%s\n' "$K1" "$K2" "$K3" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" "listed keys"
ok "key add from --file and from \$DRKIT_NEW_PASSWORD: 3 keys"

for p in "$P1" "$P2" "$P3"; do opens "$p"; done
assert_eq "$(current_key "$P1")" "$K1" "current key when opened with the first passphrase"
assert_eq "$(current_key "$P2")" "$K2" "current key when opened with the second passphrase"
assert_eq "$(current_key "$P3")" "$K3" "current key when opened with the third passphrase"
with "$P2" run_drkit 0 --repo "$R" key list
assert_contains "$T/out" "^\*  *${K2:0:8} "
assert_not_contains "$T/out" "^\*  *${K1:0:8} "
# the other ways of giving a passphrase
printf '%s\n' "$P3" >"$T/p3"
DRKIT_PASSWORD=wrong DRKIT_PASSWORD_FILE=$T/p3 run_drkit 0 --repo "$R" backup list
assert_contains "$T/out" "$NAME"
cat >"$T/keys.conf" <<CONF
[repository "main"]
    url = $R
    password-file = $T/p2
CONF
DRKIT_PASSWORD=wrong run_drkit 0 --config "$T/keys.conf" --storage=main key list --json
assert_eq "$(jq -r '.[] | select(.current) | .id' "$T/out")" "$K2" "key opened through password-file"
ok "each passphrase opens the repository (env, \$DRKIT_PASSWORD_FILE, password-file), sees and restores $NAME; key list marks the key used"

for p in "$P1" "$P2" "$P3"; do
    ! grep -rqF -- "$p" "$R/keys" || fail "a key file holds the passphrase '$p' in clear"
done
ok "no key file holds a passphrase in clear"

# --- wrong passphrases ----------------------------------------------------------------------------------
refused wrong
refused "${P1}x"
refused "${P2% *}"
echo "not it" >"$T/wrong.pass"
rc=$(rc_of env DRKIT_PASSWORD_FILE="$T/wrong.pass" "$DRKIT" --repo "$R" backup list)
assert_eq "$rc" 1 "backup list with a wrong \$DRKIT_PASSWORD_FILE"
assert_contains "$T/err" "wrong passphrase"
cat >"$T/cmd.conf" <<CONF
[repository "main"]
    url = $R
    password-command = echo nope
CONF
rc=$(rc_of "$DRKIT" --config "$T/cmd.conf" --storage=main backup list)
assert_eq "$rc" 1 "backup list with a wrong password-command"
assert_contains "$T/err" "wrong passphrase"
keys_now >"$T/keys.before"
echo "yet another" >"$T/p5"
rc=$(rc_of env DRKIT_PASSWORD=wrong "$DRKIT" --repo "$R" key add --file "$T/p5" "${KDF[@]}")
assert_eq "$rc" 1 "key add with a wrong passphrase"
rc=$(rc_of env DRKIT_PASSWORD=wrong "$DRKIT" --repo "$R" key remove "$K3")
assert_eq "$rc" 1 "key remove with a wrong passphrase"
rc=$(rc_of env DRKIT_PASSWORD=wrong "$DRKIT" --repo "$R" key passwd --file "$T/p5" "${KDF[@]}")
assert_eq "$rc" 1 "key passwd with a wrong passphrase"
keys_now | cmp -s - "$T/keys.before" || fail "a key command with a wrong passphrase changed the keys"
ok "wrong passphrases (env, file, command) exit 1 with 'wrong passphrase'; key add/remove/passwd with one change nothing"

# --- bad new passphrases ----------------------------------------------------------------------------
rc=$(rc_of env DRKIT_NEW_PASSWORD= "$DRKIT" --repo "$R" key add "${KDF[@]}")
assert_eq "$rc" 2 "key add with an empty new passphrase"
: >"$T/empty.pass"
rc=$(rc_of "$DRKIT" --repo "$R" key add --file "$T/empty.pass" "${KDF[@]}")
assert_eq "$rc" 2 "key add --file of an empty file"
rc=$(rc_of "$DRKIT" --repo "$R" key add --file "$T/no-such-file" "${KDF[@]}")
[ "$rc" -ne 0 ] || fail "key add --file of a missing file exited 0"
assert_contains "$T/err" "no-such-file|passphrase file"
if command -v setsid >/dev/null; then
    # no terminal to ask on, no --file, no $DRKIT_NEW_PASSWORD
    rc=$(rc_of setsid -w env -u DRKIT_NEW_PASSWORD "$DRKIT" --repo "$R" key add "${KDF[@]}" </dev/null)
    assert_eq "$rc" 2 "key add without a new passphrase and without a terminal"
fi
keys_now | cmp -s - "$T/keys.before" || fail "a refused key add changed the keys"
ok "an empty or missing new passphrase is refused; no key added"

# --- key passwd ---------------------------------------------------------------------------------------
printf '%s\n' "$P4" >"$T/p4"
with "$P2" run_drkit 0 --repo "$R" key passwd --file "$T/p4" "${KDF[@]}" --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .removed)" "$K2" "the key key passwd removed"
K4=$(jq_field "$T/out" .added)
assert_eq "$(keys_now)" "$(printf '%s\n' "$K1" "$K3" "$K4" | LC_ALL=C sort)" "keys after passwd"
refused "$P2"
opens "$P4"
assert_eq "$(current_key "$P4")" "$K4" "current key when opened with the new passphrase"
opens "$P1"
opens "$P3"
ok "key passwd replaces key ${K2:0:8} by ${K4:0:8}: the old passphrase is refused, the new one opens"

# --- key remove ---------------------------------------------------------------------------------------
rc=$(rc_of "$DRKIT" --repo "$R" key remove "$K1")
assert_eq "$rc" 2 "key remove of the key the command opened with"
assert_contains "$T/err" "opened the repository with"
! keys_now | grep -q '^00000000deadbeef' || fail "test bug: a key id starts with 00000000deadbeef"
rc=$(rc_of "$DRKIT" --repo "$R" key remove 00000000deadbeef)
assert_eq "$rc" 1 "key remove of an unknown key"
rc=$(rc_of "$DRKIT" --repo "$R" key remove "${K3:0:3}")
[ "$rc" -ne 0 ] || fail "key remove accepted a 3-digit prefix"
assert_eq "$(keys_now)" "$(printf '%s\n' "$K1" "$K3" "$K4" | LC_ALL=C sort)" "keys after refused removes"
run_drkit 0 --repo "$R" key remove "${K3:0:8}" --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .removed)" "$K3" "the removed key"
refused "$P3"
opens "$P1"
opens "$P4"
ok "key remove of another key by prefix works and its passphrase is refused; the own key, an unknown id and a short prefix are refused"

# --- the last key -------------------------------------------------------------------------------------
with "$P4" run_drkit 0 --repo "$R" key remove "$K1"
assert_contains "$T/out" "^removed key ${K1:0:8}"
refused "$P1"
assert_eq "$(keys_now)" "$K4" "the one key left"
rc=$(rc_of env DRKIT_PASSWORD="$P4" "$DRKIT" --repo "$R" key remove "$K4")
assert_eq "$rc" 2 "key remove of the last key"
assert_contains "$T/err" "last key"
assert_eq "$(keys_now)" "$K4" "the key file after refusing to remove the last key"
opens "$P4"
ok "the last key cannot be removed (exit 2, 'last key'); it still opens the repository"

# --- a stray file in keys/ is not a key ----------------------------------------------------------------
printf '{"salt": "c2FsdA==", "data": "ZGF0YQ=="}' >"$R/keys/stray"
with "$P4" run_drkit 0 --repo "$R" key list --json
assert_eq "$(jq -c '[.[] | select(.id == "stray") | .damaged]' "$T/out")" "[true]" \
    "a file in keys/ that is not named by its content"
rm -f "$R/keys/stray"
ok "a stray file in keys/ is listed as damaged, never counted as a key"

# --- the data was never touched -------------------------------------------------------------------
data_manifest | cmp -s - "$T/data.before" || {
    data_manifest | diff "$T/data.before" - >&2 || true
    fail "key commands changed files outside keys/"
}
with "$P4" run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
[ "$(lock_files "$R")" -eq 0 ] || fail "lock files left: $(ls "$R/locks")"
ok "snapshots, index and packs are byte-identical after every key change; check --read-data passes"
