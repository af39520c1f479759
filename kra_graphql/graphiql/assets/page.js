// GraphiQL for this API: queries and mutations over HTTP at /graphql, subscriptions over
// graphql-transport-ws at the same path (the vendored graphql-ws client), the explorer
// plugin, and the README's first query to start from.
"use strict";

(() => {
  const DEFAULT_QUERY = `# kra-graphql. Run with Ctrl-Enter; the Docs and Explorer buttons on the left
# list every type. Anonymous reads work in development; mutations need a key:
# replace <key> in the Headers tab below.
{ health { database redis worker queuedJobs runningJobs } }
`;
  // Placeholder text in the Headers tab: sent as is it would be a wrong key, so it is
  // left out of requests until someone types a real key over it.
  const PLACEHOLDER = "Bearer <key>";
  const DEFAULT_HEADERS = JSON.stringify({ Authorization: PLACEHOLDER }, null, 2);

  const httpUrl = new URL("/graphql", window.location.href).href;
  const wsUrl = httpUrl.replace(/^http/, "ws");

  function withoutPlaceholder(headers) {
    const kept = {};
    for (const [name, value] of Object.entries(headers || {})) {
      if (!(name.toLowerCase() === "authorization" && value === PLACEHOLDER)) kept[name] = value;
    }
    return kept;
  }

  // The socket opens with the Authorization of the latest request from the Headers tab.
  let authorization = null;
  const wsClient = window.graphqlWs.createClient({
    url: wsUrl,
    lazy: true,
    connectionParams: () => (authorization ? { Authorization: authorization } : {}),
  });
  const overHttp = GraphiQL.createFetcher({ url: httpUrl });

  // Read from the text sent, not GraphiQL's parsed document, which can lag behind an edit.
  function isSubscription(params) {
    const text = params.query.replace(/"""[\s\S]*?"""|"(?:\\.|[^"\\])*"|#.*$/gm, '""');
    const name = params.operationName;
    const operation = name
      ? new RegExp(`\\b(query|mutation|subscription)\\s+${name}\\b`).exec(text)
      : /^\s*(query|mutation|subscription)?/.exec(text);
    return Boolean(operation && operation[1] === "subscription");
  }

  function fetcher(params, options) {
    const headers = withoutPlaceholder(options && options.headers);
    const sent = headers.Authorization || headers.authorization || null;
    if (sent !== authorization) {
      authorization = sent;
      // A different key: the next subscription reconnects with it.
      wsClient.terminate();
    }
    // The API answers subscriptions only over WebSocket, at the same path.
    if (isSubscription(params)) return wsClient.iterate(params);
    return overHttp(params, { ...options, headers });
  }

  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: DEFAULT_HEADERS,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // Keys stay out of the browser's storage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
      plugins: [explorer],
    }),
  );
})();
