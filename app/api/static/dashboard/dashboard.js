// A live credits dashboard for one customer: balances, grants, upcoming expirations and
// the ledger, kept up to date over one WebSocket by the graphql-ws client
// (window.graphqlWs, served beside this file). Copy what you need: the queries, the
// three subscriptions and how an event leads to a re-read are all there is to it.
(function () {
  "use strict";

  // One read of everything shown; run again whenever a subscription says something moved.
  var SNAPSHOT = `query Dashboard($id: ID!) {
    customer(id: $id) {
      id key name
      creditBalances { currency available pending availablePromotional availablePaid sequence }
      creditGrants(first: 50, orderBy: { field: BURN_ORDER }) {
        edges { node {
          id name currency status amount remaining expiresAt
          purchase { settlementStatus }
        } }
      }
      upcomingCreditExpirations(within: "P90D") { expiresAt currency amount grant { name } }
      creditLedger(first: 25) {
        edges { node {
          id sequence currency type amount availableBalanceAfter bookedAt description
          grant { name }
        } }
      }
    }
  }`;
  // A portal token sees one customer: the viewer says which.
  var WHO_AM_I = "query { viewer { kind customer { id } } }";
  var BY_KEY = "query ($key: String!) { customer(key: $key) { id } }";
  // The balance arrives at once, then after every committed change to it.
  var BALANCE = `subscription ($id: ID!, $currency: String!) {
    creditBalanceChanged(customerId: $id, currency: $currency) {
      currency available pending availablePromotional availablePaid sequence
    }
  }`;
  // Every new entry in every currency, and every grant after any change (settlement too).
  var ENTRIES = "subscription ($id: ID!) { creditLedgerEntryBooked(customerId: $id) { id } }";
  var GRANTS = "subscription ($id: ID!) { creditGrantChanged(customerId: $id) { id } }";

  var client = null; // one graphql-ws client, one socket, for queries and subscriptions
  var stops = []; // functions that end this dashboard's subscriptions
  var balances = {}; // currency -> the newest balance seen (by sequence)
  var customerId = null;
  var timer = null;

  function open(token, customer) {
    close();
    client = graphqlWs.createClient({
      url: new URL("/graphql", location.href).href.replace(/^http/, "ws"),
      // The same value as the HTTP Authorization header; checked for the socket's whole
      // life: a revoked key or an expired token closes it with 4403.
      connectionParams: token ? { Authorization: "Bearer " + token } : {}, // none: OPEN mode
      retryAttempts: 5, // a restarting server or a network blip; never bad credentials:
      shouldRetry: function (event) { return !(event && event.code === 4403); },
      on: {
        connected: function () { if (customerId) refresh(); }, // after a reconnect too
        closed: function (event) {
          if (event.code === 4403) say("Credentials refused, revoked or expired.", true);
        },
      },
    });
    findCustomer(customer)
      .then(function (id) {
        if (!id) throw new Error("No such customer, or not one these credentials may read.");
        customerId = id;
        listen(ENTRIES, { id: id }, later);
        listen(GRANTS, { id: id }, later);
        return refresh();
      })
      .catch(function (error) { say(error.message, true); });
  }

  function findCustomer(customer) {
    if (customer && customer.indexOf("cus_") === 0) return Promise.resolve(customer);
    if (customer) return ask(BY_KEY, { key: customer }).then(function (d) { return d.customer && d.customer.id; });
    return ask(WHO_AM_I, {}).then(function (d) { return d.viewer.customer && d.viewer.customer.id; });
  }

  // A query over the socket, as a promise of its data.
  function ask(query, variables) {
    return new Promise(function (resolve, reject) {
      var data = null;
      client.subscribe({ query: query, variables: variables }, {
        next: function (result) {
          if (result.errors) reject(new Error(result.errors[0].message));
          data = result.data;
        },
        error: function (error) { reject(error instanceof Error ? error : new Error(describe(error))); },
        complete: function () { resolve(data); },
      });
    });
  }

  function listen(query, variables, onData) {
    stops.push(client.subscribe({ query: query, variables: variables }, {
      next: function (result) {
        if (result.errors) say(result.errors[0].message, true);
        else onData(result.data);
      },
      error: function (error) { say(describe(error), true); },
      complete: function () {},
    }));
  }

  function later() { // many entries in one transaction: one re-read
    clearTimeout(timer);
    timer = setTimeout(refresh, 50);
  }

  function refresh() {
    return ask(SNAPSHOT, { id: customerId }).then(function (data) {
      var customer = data.customer;
      text(document.getElementById("customer-name"), customer.name + " (" + customer.key + ")");
      customer.creditBalances.forEach(function (balance) {
        if (!(balance.currency in balances)) {
          listen(BALANCE, { id: customer.id, currency: balance.currency }, function (d) { keep(d.creditBalanceChanged); });
        }
        keep(balance);
      });
      fill("grants", customer.creditGrants.edges, function (edge) {
        var g = edge.node;
        return [g.name, g.currency, g.status, money(g.amount), money(g.remaining),
          g.purchase ? g.purchase.settlementStatus : "promotional", g.expiresAt || "never"];
      });
      fill("expirations", customer.upcomingCreditExpirations, function (e) {
        return [e.expiresAt, e.grant.name, e.currency, money(e.amount)];
      });
      fill("ledger", customer.creditLedger.edges, function (edge) {
        var e = edge.node;
        return [e.bookedAt, e.currency, e.sequence, e.type, money(e.amount), money(e.availableBalanceAfter),
          e.grant.name, e.description || ""];
      });
      say("Live: updates as credits move (" + new Date().toLocaleTimeString() + ").");
    }).catch(function (error) { say(error.message, true); });
  }

  // Balances come from the snapshot and from their subscription: keep the newest.
  function keep(balance) {
    var old = balances[balance.currency];
    if (old && old.sequence > balance.sequence) return;
    balances[balance.currency] = balance;
    fill("balances", Object.keys(balances).sort(), function (currency) {
      var b = balances[currency];
      return [currency, money(b.available), money(b.pending), money(b.availablePromotional), money(b.availablePaid), b.sequence];
    });
  }

  function close() {
    clearTimeout(timer);
    stops.forEach(function (stop) { stop(); });
    stops = [];
    balances = {};
    customerId = null;
    if (client) client.dispose();
  }

  // Rendering: text only (never innerHTML), so names and descriptions cannot inject markup.
  // Amounts are decimal strings from the server, shown as they are: never parsed as floats.
  function money(amount) { return { amount: amount }; }

  function fill(table, items, cellsOf) {
    var body = document.querySelector("#" + table + " tbody");
    var rows = items.map(function (item) {
      var row = document.createElement("tr");
      cellsOf(item).forEach(function (value) {
        var cell = row.insertCell();
        if (value && value.amount !== undefined) { cell.className = "amount"; value = value.amount; }
        text(cell, String(value));
      });
      return row;
    });
    body.replaceChildren.apply(body, rows);
  }

  function text(element, value) { element.textContent = value; }

  function say(message, isError) {
    var status = document.getElementById("status");
    text(status, message);
    status.className = isError ? "error" : "";
  }

  function describe(error) {
    if (Array.isArray(error)) return error.map(function (e) { return e.message; }).join("; ");
    if (error && error.code) return "Connection closed (" + error.code + (error.reason ? ": " + error.reason : "") + ")";
    return String(error);
  }

  document.getElementById("connect").addEventListener("submit", function (event) {
    event.preventDefault();
    open(document.getElementById("token").value.trim(), document.getElementById("customer").value.trim());
  });

  // /dashboard#token=…&customer=… opens at once. The part after # never reaches a server.
  var given = new URLSearchParams(location.hash.slice(1));
  if (given.has("token")) {
    document.getElementById("token").value = given.get("token");
    document.getElementById("customer").value = given.get("customer") || "";
    history.replaceState(null, "", location.pathname); // keep the token out of the address bar
    open(given.get("token"), given.get("customer") || "");
  }
})();
