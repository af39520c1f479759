#!/usr/bin/env bash
# Rebuilds kra_graphql/graphiql/assets/ from the npm registry: the production UMD builds
# GraphiQL's page loads, each with its licence, and nothing else (no source maps). The
# output is committed, so running the API never needs Node; upgrading is a version bump here.
set -euo pipefail

REACT=18.3.1
GRAPHIQL=3.8.3
EXPLORER=1.0.2
GRAPHQL_WS=6.4.2
# graphiql's "min" bundle ships unminified (3.5 MB); esbuild, used only here, shrinks it.
ESBUILD=0.24.2

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/kra_graphql/graphiql/assets/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch PACKAGE VERSION: unpack its tarball into $work/NAME
    local name="${1//\//-}"
    (cd "$work" && npm pack --silent "$1@$2" >/dev/null)
    mkdir -p "$work/$name"
    tar -xzf "$work/${name#@}-$2.tgz" -C "$work/$name" --strip-components=1
}

fetch react "$REACT"
fetch react-dom "$REACT"
fetch graphiql "$GRAPHIQL"
fetch @graphiql/plugin-explorer "$EXPLORER"
fetch graphql-ws "$GRAPHQL_WS"

rm -rf "$out"
mkdir -p "$out"
cp "$work/react/umd/react.production.min.js" "$out/react.production.min.js"
cp "$work/react/LICENSE" "$out/react.LICENSE"
cp "$work/react-dom/umd/react-dom.production.min.js" "$out/react-dom.production.min.js"
cp "$work/react-dom/LICENSE" "$out/react-dom.LICENSE"
(cd "$work" && npm install --silent --no-save --no-audit --no-fund "esbuild@$ESBUILD" >/dev/null)
"$work/node_modules/.bin/esbuild" "$work/graphiql/graphiql.min.js" --minify --log-level=error \
    --outfile="$out/graphiql.min.js"
"$work/node_modules/.bin/esbuild" "$work/graphiql/graphiql.min.css" --minify --log-level=error \
    --outfile="$out/graphiql.min.css"
cp "$work/graphiql/LICENSE" "$out/graphiql.LICENSE"
cp "$work/@graphiql-plugin-explorer/dist/index.umd.js" "$out/plugin-explorer.umd.js"
cp "$work/@graphiql-plugin-explorer/dist/style.css" "$out/plugin-explorer.css"
# The plugin's tarball ships no licence file; it is MIT like the rest of the GraphiQL
# monorepo it comes from, whose licence is that of graphiql above.
grep -q '"license": "MIT"' "$work/@graphiql-plugin-explorer/package.json"
cp "$work/graphiql/LICENSE" "$out/plugin-explorer.LICENSE"
cp "$work/graphql-ws/umd/graphql-ws.min.js" "$out/graphql-ws.min.js"
cp "$work/graphql-ws/LICENSE.md" "$out/graphql-ws.LICENSE"
# Bundlers leave a trailing sourceMappingURL comment: the maps are not shipped.
sed -i '/^\/\/# sourceMappingURL=/d; s#/\*\# sourceMappingURL=[^*]*\*/##' "$out"/*.js "$out"/*.css
cat > "$out/VERSIONS" <<VERSIONS
react $REACT
react-dom $REACT
graphiql $GRAPHIQL
@graphiql/plugin-explorer $EXPLORER
graphql-ws $GRAPHQL_WS
VERSIONS
ls -l "$out"
