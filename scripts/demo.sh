#!/bin/bash
# drkit demo: install, build, then back up a sample shop it creates, damage the shop the way
# ransomware and a slip of the hand would, restore it, and show it is identical.
#   scripts/demo.sh              everything in /tmp/drkit-demo (removed at the start)
#   DEMO_DIR=/some/dir scripts/demo.sh
#   SKIP_INSTALL=1 scripts/demo.sh   when the packages are already installed
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO=${DEMO_DIR:-/tmp/drkit-demo}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ -z "${SKIP_INSTALL:-}" ]; then
    step "installing build dependencies (Debian packages)"
    scripts/install-deps.sh
fi
step "building drkit"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
DRKIT="$ROOT/build/drkit"
TREECMP="$ROOT/build/tests/treecmp"

step "creating a sample shop in $DEMO/shop"
rm -rf "$DEMO"
mkdir -p "$DEMO"
SHOP="$DEMO/shop"
mkdir -p "$SHOP"/public/media/catalog/product "$SHOP"/themes/aurora/{css,js,templates} \
    "$SHOP"/app/etc "$SHOP"/var/log "$SHOP"/database "$SHOP"/var/cache
for i in $(seq 1 120); do   # product images: incompressible
    d="$SHOP/public/media/catalog/product/$((i % 10))"
    mkdir -p "$d"
    head -c $((20000 + (i * 7919) % 300000)) /dev/urandom > "$d/product-$i.jpg"
done
for i in $(seq 1 40); do    # theme files: text
    for n in $(seq 1 200); do echo ".product-$n { margin: ${n}px; color: #$((n * 37 % 999)); }"; done \
        > "$SHOP/themes/aurora/css/style-$i.css"
    for n in $(seq 1 150); do echo "function cart$n(id) { return fetch('/cart/' + id + '/$n'); }"; done \
        > "$SHOP/themes/aurora/js/app-$i.js"
    echo "<h1>{{ product.name }} $i</h1>" > "$SHOP/themes/aurora/templates/page-$i.twig"
done
printf "<?php\nreturn ['db' => ['host' => 'localhost', 'name' => 'shop']];\n" > "$SHOP/app/etc/env.php"
chmod 640 "$SHOP/app/etc/env.php"
for n in $(seq 1 30000); do
    echo "INSERT INTO products (id, sku, name, price) VALUES ($n, 'SKU-$n', 'Product $n', $((n % 500)).99);"
done > "$SHOP/database/shop-dump.sql"
for n in $(seq 1 5000); do echo "2024-01-13T02:00:$((n % 60)) INFO request /product/$n 200"; done \
    > "$SHOP/var/log/system.log"
ln -s ../public/media "$SHOP/app/media"
echo "cache" > "$SHOP/var/cache/page.html"
du -sh "$SHOP" | sed 's/^/shop size: /'

# The repository, its passphrase and the config: what an operator sets up once.
printf 'demo-passphrase-%s\n' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    > "$DEMO/passphrase"
chmod 600 "$DEMO/passphrase"
cat > "$DEMO/drkit.conf" <<CONF
[core]
    repository = local
[repository "local"]
    url = $DEMO/repo
    password-file = $DEMO/passphrase
[source "files"]
    type = files
    path = $SHOP
    exclude = $SHOP/var/cache
[target "test"]
    path = $DEMO/restore-test
CONF
export DRKIT_CONFIG="$DEMO/drkit.conf"
unset DRKIT_REPOSITORY DRKIT_PASSWORD DRKIT_PASSWORD_FILE

step "creating the encrypted repository"
run "$DRKIT" init
step "full backup (the paths come from the config)"
run "$DRKIT" backup create --type=full
echo "a day of shop activity: a new upload, a log line, a price change"
head -c 150000 /dev/urandom > "$SHOP/public/media/catalog/product/1/product-new.jpg"
echo "2024-01-14T02:00:00 INFO request /checkout 200" >> "$SHOP/var/log/system.log"
sed -i 's/Product 17,/Product 17 (sale),/' "$SHOP/database/shop-dump.sql"
step "incremental backup: only what changed is read and stored"
run "$DRKIT" backup create --type=incremental
step "a labelled restore point before an upgrade"
run "$DRKIT" backup create --type=restore_point --tag before-upgrade
run "$DRKIT" backup list

# What a good state looks like, to compare the restore with.
cp -a "$SHOP" "$DEMO/reference"

step "disaster: ransomware encrypts the product images and the dump, and files are deleted"
for f in "$SHOP"/public/media/catalog/product/*/*.jpg "$SHOP/database/shop-dump.sql"; do
    openssl enc -aes-128-cbc -pbkdf2 -pass pass:ransom -in "$f" -out "$f.encrypted" 2>/dev/null \
        || head -c 1000 /dev/urandom > "$f.encrypted"
    rm -f "$f"
done
echo "YOUR FILES ARE ENCRYPTED. Send 1 BTC." > "$SHOP/READ_ME_NOW.txt"
rm -rf "$SHOP/themes/aurora/js"
chmod 777 "$SHOP/app/etc/env.php"
find "$SHOP" -name '*.encrypted' | wc -l | sed 's/^/files encrypted: /'

step "check the latest backup is restorable before touching anything"
run "$DRKIT" backup test latest
step "restore the test environment first (guide: restore latest --target=test)"
run "$DRKIT" backup restore latest --target=test
step "restore the shop in place: rewrite only what differs, delete what the attacker added"
run "$DRKIT" backup restore latest --delta --delete --include="$SHOP"

step "is the shop identical to before the attack? (content, modes, owners, times, links)"
if "$TREECMP" --summary "$DEMO/reference" "$SHOP"; then
    printf '\n\033[1;32mthe shop is back, identical to its state before the attack\033[0m\n'
else
    printf '\n\033[1;31mdifferences found (listed above)\033[0m\n'
    exit 1
fi
run "$DRKIT" backup check --read-data
echo
echo "everything is in $DEMO (the repository is $DEMO/repo; the passphrase in $DEMO/passphrase)"
