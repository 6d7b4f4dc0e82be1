#!/usr/bin/env bash
# options.sh: backup and restore options not covered elsewhere.
#
# Asserts:
#   - --exclude with a base-name glob and with a full-path glob; excluded entries are absent
#     from the snapshot and `show --json` records the patterns
#   - --one-file-system keeps a mount point as an empty directory and does not enter it
#   - restore --delta --delete in place: files the snapshot lacks are removed inside the
#     backed-up path, never outside it (siblings of the backed-up directory survive), and
#     never what an exclude pattern matched; the tree equals the original afterwards
#   - --delete without --delta is a usage error
#   - --tag and --type=restore_point are recorded and filterable
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq

R=$T/repo
init_repo "$R"
SHOP=$T/www/shop
mkdir -p "$SHOP/app" "$SHOP/var/cache" "$SHOP/var/log" "$T/www/other"
echo code >"$SHOP/app/index.php"
echo cached >"$SHOP/var/cache/page.html"
echo line >"$SHOP/var/log/app.log"
echo keep >"$T/www/other/keep.txt"
echo sibling >"$T/www/sibling.txt"

# --- excludes -------------------------------------------------------------------------------------
run_drkit 0 --repo "$R" backup create --exclude '*.log' --exclude "$SHOP/var/cache" --json "$SHOP"
jq -e '.excludes | length == 2' "$T/out" >/dev/null || fail "excludes are not recorded"
run_drkit 0 --repo "$R" backup ls latest "$SHOP" -R
assert_contains "$T/out" "app/index.php"
assert_not_contains "$T/out" "app.log"
assert_not_contains "$T/out" "var/cache"
assert_contains "$T/out" "var/log"
ok "--exclude by base name and by full path; patterns recorded in the snapshot"

# --- restore in place with --delta --delete ----------------------------------------------------
cp -a "$T/www" "$T/ref"
echo "ENCRYPTED" >"$SHOP/app/index.php.encrypted"
rm "$SHOP/app/index.php"
echo "ransom" >"$SHOP/README_RANSOM.txt"
mkdir "$SHOP/app/evil" && echo x >"$SHOP/app/evil/x"
echo new-cache >"$SHOP/var/cache/new.html"   # excluded: must survive --delete
echo outsider >"$T/www/new-sibling.txt"       # outside the backed-up path: must survive
rc=$(rc_of "$DRKIT" --repo "$R" backup restore latest --delete --target=/)
assert_eq "$rc" 2 "--delete without --delta"
run_drkit 0 --repo "$R" backup restore latest --delta --delete --json
assert_eq "$(jq_field "$T/out" '.deleted')" 3 "three extra entries deleted (the .encrypted file, the note, the dir)"
[ -f "$SHOP/app/index.php" ] || fail "index.php not restored"
[ ! -e "$SHOP/app/index.php.encrypted" ] && [ ! -e "$SHOP/README_RANSOM.txt" ] && [ ! -e "$SHOP/app/evil" ] ||
    fail "--delete left what the snapshot lacks"
[ -f "$SHOP/var/cache/new.html" ] || fail "--delete removed an excluded path"
[ -f "$T/www/new-sibling.txt" ] && [ -f "$T/www/sibling.txt" ] && [ -f "$T/www/other/keep.txt" ] ||
    fail "--delete touched something outside the backed-up path"
rm "$SHOP/var/cache/new.html" "$T/www/new-sibling.txt"
# the excluded log was never backed up: the reference still has it
rm "$T/ref/shop/var/log/app.log"
touch -r "$T/www/shop/var/log" "$T/ref/shop/var/log"
tree_equal "$T/ref/shop" "$SHOP" --ignore var/cache --ignore var/log --no-dir-mtime
ok "restore --delta --delete in place: attacker's files gone, excluded and outside paths kept"

# --- one file system ---------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && mkdir -p "$SHOP/mnt" && mount -t tmpfs -o size=4m tmpfs "$SHOP/mnt" 2>/dev/null; then
    track_mount "$SHOP/mnt"
    echo inside >"$SHOP/mnt/inside.txt"
    run_drkit 0 --repo "$R" backup create --one-file-system "$SHOP"
    run_drkit 0 --repo "$R" backup ls latest "$SHOP/mnt"
    [ ! -s "$T/out" ] || fail "--one-file-system entered a mount point: $(cat "$T/out")"
    run_drkit 0 --repo "$R" backup ls latest "$SHOP" -l
    assert_contains "$T/out" "^d.* $SHOP/mnt\$"
    run_drkit 0 --repo "$R" backup create "$SHOP"
    run_drkit 0 --repo "$R" backup ls latest "$SHOP/mnt"
    assert_contains "$T/out" "inside.txt"
    ok "--one-file-system keeps the mount point, not what is mounted there"
else
    echo "# skipped --one-file-system: cannot mount a tmpfs here"
fi

# --- tags and restore points ---------------------------------------------------------------------
run_drkit 0 --repo "$R" backup create --type=restore_point --tag before-upgrade --tag manual "$SHOP"
run_drkit 0 --repo "$R" backup list --tag before-upgrade --json
assert_eq "$(jq_field "$T/out" 'length')" 1 "--tag filter"
assert_eq "$(jq_field "$T/out" '.[0].type')" restore_point "restore point type"
assert_eq "$(jq_field "$T/out" '.[0].tags | join(",")')" "before-upgrade,manual" "tags"
run_drkit 0 --repo "$R" backup list --type restore_point
assert_contains "$T/out" "tags:before-upgrade,manual"
ok "--type=restore_point with tags, listed and filtered"
