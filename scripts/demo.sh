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

# The shop's database: a throwaway PostgreSQL cluster (stopped and removed at exit).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PGDIR=$DEMO/pg
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_shop() { "$PGBIN/psql" -X -q -h "$PGDIR" -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
stop_pg() { [ -f "$PGDIR/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true; }
trap stop_pg EXIT
step "starting the shop's PostgreSQL database in $PGDIR"
mkdir -p "$PGDIR"
[ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
PGPORT=$(( 20000 + RANDOM % 20000 ))
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories='$PGDIR' -p $PGPORT" start >/dev/null
psql_shop -d postgres -c "CREATE DATABASE shop"
psql_shop -d shop <<'SQL'
CREATE TABLE products (id int PRIMARY KEY, sku text UNIQUE, name text, price numeric(10,2));
CREATE TABLE orders (id serial PRIMARY KEY, product_id int REFERENCES products(id),
                     qty int, created timestamptz DEFAULT now());
SQL
psql_shop -d shop -f "$SHOP/database/shop-dump.sql"
psql_shop -d shop -c "INSERT INTO orders (product_id, qty) SELECT 1 + g % 30000, 1 + g % 3 FROM generate_series(1, 20000) g"
psql_shop -d shop -At -c "SELECT count(*) || ' products, ' || (SELECT count(*) FROM orders) || ' orders' FROM products"

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
[source "database"]
    type = postgresql
    conninfo = host=$PGDIR port=$PGPORT dbname=shop user=postgres
    databases = shop
[target "test"]
    path = $DEMO/restore-test
    conninfo = host=$PGDIR port=$PGPORT dbname=shop_test user=postgres
CONF
export DRKIT_CONFIG="$DEMO/drkit.conf"
unset DRKIT_REPOSITORY DRKIT_PASSWORD DRKIT_PASSWORD_FILE

step "creating the encrypted repository"
run "$DRKIT" init
step "full backup: the shop's files and its database (both from the config)"
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

step "a slip of the hand in the database: products deleted, prices overwritten"
psql_shop -d shop -c "DELETE FROM products p WHERE id > 25000 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.product_id = p.id)"
psql_shop -d shop -c "UPDATE products SET price = 0 WHERE id <= 100"
psql_shop -d shop -c "INSERT INTO orders (product_id, qty) VALUES (42, 1)"   # a new order since
step "restore the database into the test database first, and look at it"
run "$DRKIT" backup restore latest --database-only --target=test
psql_shop -d shop_test -At -c "SELECT 'test database: ' || count(*) || ' products' FROM products"
step "what restoring just the products table would do (orders stay untouched)"
run "$DRKIT" backup restore latest --table=products --dry-run
run "$DRKIT" backup restore latest --table=products
psql_shop -d shop -At -c "SELECT 'products: ' || count(*) || ', zero prices: ' || count(*) FILTER (WHERE price = 0) || ', orders: ' || (SELECT count(*) FROM orders) FROM products"
run "$DRKIT" backup show latest
echo
echo "everything is in $DEMO (the repository is $DEMO/repo; the passphrase in $DEMO/passphrase)"
