/* The sandbox chat page: a Teams-like client for the sandbox Teams channel (no dependencies besides adaptivecards).
 *
 * `window.SandboxChat` exposes the Teams-like host config and `renderCard`, also used by the browser tests' card
 * harness. The app itself starts only on the chat page (an element with id "app").
 */
(function () {
  "use strict";

  var FOREGROUND = {
    default: { default: "#242424", subtle: "#616161" },
    dark: { default: "#242424", subtle: "#616161" },
    light: { default: "#ffffff", subtle: "#f5f5f5" },
    accent: { default: "#5b5fc7", subtle: "#6264a7" },
    good: { default: "#0e700e", subtle: "#107c10" },
    warning: { default: "#835b00", subtle: "#a16114" },
    attention: { default: "#c4314b", subtle: "#d13438" },
  };

  function style(background) {
    return { backgroundColor: background, foregroundColors: FOREGROUND };
  }

  /* Close to the Teams light theme's host config. */
  var HOST_CONFIG = {
    supportsInteractivity: true,
    fontFamily: "'Segoe UI', 'Helvetica Neue', system-ui, sans-serif",
    spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
    separator: { lineThickness: 1, lineColor: "#e0e0e0" },
    fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
    fontWeights: { lighter: 300, default: 400, bolder: 600 },
    imageSizes: { small: 32, medium: 52, large: 100 },
    containerStyles: {
      default: style("#ffffff"),
      emphasis: style("#f5f5f5"),
      accent: style("#e8ebfa"),
      good: style("#e7f2da"),
      attention: style("#fde7e9"),
      warning: style("#fff4ce"),
    },
    actions: {
      maxActions: 6,
      spacing: "default",
      buttonSpacing: 8,
      showCard: { actionMode: "inline", inlineTopMargin: 16, style: "emphasis" },
      actionsOrientation: "horizontal",
      actionAlignment: "left",
      iconPlacement: "leftOfTitle",
    },
    adaptiveCard: { allowCustomStyle: true },
    inputs: {
      label: {
        requiredInputs: { weight: "bolder", suffix: " *", suffixColor: "attention" },
        optionalInputs: { weight: "bolder" },
      },
      errorMessage: { size: "small", color: "attention" },
    },
    textBlock: { headingLevel: 2 },
    factSet: {
      title: { color: "default", size: "default", isSubtle: true, weight: "default", wrap: true, maxWidth: 160 },
      value: { color: "default", size: "default", isSubtle: false, weight: "default", wrap: true },
      spacing: 12,
    },
  };

  /* Render an Adaptive Card with the official renderer.
   * Returns {element, problems, card}; `onAction` gets {type, title, verb, data, inputs, url} for a click. */
  function renderCard(payload, onAction) {
    var AC = window.AdaptiveCards;
    var card = new AC.AdaptiveCard();
    card.hostConfig = new AC.HostConfig(HOST_CONFIG);
    card.onExecuteAction = function (action) {
      var inputs = {};
      card.getAllInputs().forEach(function (input) {
        inputs[input.id] = input.value;
      });
      onAction({
        type: action.getJsonTypeName(),
        title: action.title,
        verb: action.verb,
        data: action.data === undefined ? null : action.data,
        inputs: inputs,
        url: action.url,
      });
    };
    var context = new AC.SerializationContext();
    card.parse(payload, context);
    var problems = [];
    for (var i = 0; i < context.eventCount; i++) {
      var event = context.getEventAt(i);
      problems.push({ phase: "parse", event: event.event, message: event.message });
    }
    var validation = card.validateProperties();
    for (var j = 0; j < validation.validationEvents.length; j++) {
      var item = validation.validationEvents[j];
      problems.push({ phase: "validate", event: item.event, message: item.message });
    }
    return { element: card.render(), problems: problems, card: card };
  }

  window.SandboxChat = { hostConfig: HOST_CONFIG, renderCard: renderCard };

  var app = document.getElementById("app");
  if (!app) {
    return;
  }

  var POLL_MS = 1000;
  var ADAPTIVE = "application/vnd.microsoft.card.adaptive";
  var OAUTH = "application/vnd.microsoft.card.oauth";
  var params = new URLSearchParams(window.location.search);
  var state = {
    users: [],
    bot: { name: "Grading assistant" },
    user: params.get("user") || window.localStorage.getItem("sandbox-chat-user") || "",
    conversationId: params.get("conversation") || "",
    conversations: [],
    rendered: {},
    refreshing: {},
    notices: {},
  };

  var messagesEl = document.getElementById("messages");
  var switcher = document.getElementById("user-switcher");
  var composeForm = document.getElementById("compose");
  var composeInput = document.getElementById("compose-input");

  function api(method, path, body) {
    var init = { method: method, headers: { "content-type": "application/json" } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) {
          var message = (json && json.error && json.error.message) || "HTTP " + response.status;
          throw new Error(message);
        }
        return json;
      });
    });
  }

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  function formatText(text) {
    return escapeHtml(text)
      .replace(/&lt;at&gt;(.*?)&lt;\/at&gt;/g, '<span class="mention">@$1</span>')
      .replace(/\*\*(.+?)\*\*/g, "<b>$1</b>");
  }

  function initials(name) {
    return String(name || "?")
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map(function (part) {
        return part[0].toUpperCase();
      })
      .join("");
  }

  function current() {
    return state.conversations.find(function (c) {
      return c.id === state.conversationId;
    });
  }

  function renderUsers() {
    switcher.innerHTML = "";
    state.users.forEach(function (user) {
      var option = document.createElement("option");
      option.value = user.aadObjectId;
      option.textContent = user.name;
      switcher.appendChild(option);
    });
    switcher.value = state.user;
  }

  function renderConversationList() {
    var chats = document.getElementById("chat-list");
    var teams = document.getElementById("team-list");
    chats.innerHTML = "";
    teams.innerHTML = "";
    state.conversations.forEach(function (conversation) {
      var item = document.createElement("li");
      item.dataset.conversation = conversation.id;
      item.className = conversation.id === state.conversationId ? "selected" : "";
      var personal = conversation.kind === "personal";
      item.innerHTML =
        '<span class="avatar ' + (personal ? "bot-avatar" : "team-avatar") + '">' +
        escapeHtml(initials(conversation.title)) + "</span><span>" + escapeHtml(conversation.title) +
        (personal ? "" : '<br><span class="sub">' + escapeHtml(conversation.channel) + "</span>") + "</span>";
      item.addEventListener("click", function () {
        selectConversation(conversation.id);
      });
      (personal ? chats : teams).appendChild(item);
    });
  }

  function selectConversation(id) {
    state.conversationId = id;
    state.rendered = {};
    messagesEl.innerHTML = "";
    render();
  }

  function render() {
    renderConversationList();
    var conversation = current();
    if (!conversation) {
      return;
    }
    var personal = conversation.kind === "personal";
    document.getElementById("conversation-title").textContent = conversation.title;
    document.getElementById("conversation-subtitle").textContent = personal ? "Chat" : conversation.channel;
    composeInput.placeholder = personal ? "Type a message" : "Reply with @" + state.bot.name + " …";
    var seen = {};
    conversation.messages.forEach(function (message, index) {
      seen[message.id] = true;
      var key = JSON.stringify([message.version, message.sso, message.attachments, state.notices[message.id] || ""]);
      var existing = state.rendered[message.id];
      if (existing && existing.key === key) {
        return;
      }
      var element = renderMessage(conversation, message);
      if (existing) {
        messagesEl.replaceChild(element, existing.element);
      } else {
        var next = messagesEl.children[index] || null;
        messagesEl.insertBefore(element, next);
        element.scrollIntoView({ block: "end" });
      }
      state.rendered[message.id] = { key: key, element: element };
      message.attachments.forEach(function (attachment) {
        if (attachment.needsRefresh) {
          requestRefresh(conversation, message);
        }
      });
    });
    Object.keys(state.rendered).forEach(function (id) {
      if (!seen[id]) {
        state.rendered[id].element.remove();
        delete state.rendered[id];
      }
    });
  }

  function renderMessage(conversation, message) {
    var element = document.createElement("div");
    element.className = "message " + (message.fromBot ? "from-bot" : "from-user");
    element.dataset.id = message.id;
    var name = message.fromBot ? state.bot.name : (message.from && message.from.name) || "";
    var avatar = document.createElement("div");
    avatar.className = "avatar" + (message.fromBot ? " bot-avatar" : "");
    avatar.textContent = message.fromBot ? "GA" : initials(name);
    var body = document.createElement("div");
    body.className = "body";
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = name;
    body.appendChild(meta);
    if (message.text) {
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.innerHTML = formatText(message.text);
      body.appendChild(bubble);
    }
    message.attachments.forEach(function (attachment) {
      if (attachment.contentType === ADAPTIVE) {
        body.appendChild(renderAdaptive(conversation, message, attachment));
      } else if (attachment.contentType === OAUTH) {
        body.appendChild(renderOAuth(conversation, message, attachment));
      }
    });
    var notice = state.notices[message.id];
    if (notice) {
      var note = document.createElement("div");
      note.className = "notice" + (notice.error ? " error" : "");
      note.textContent = notice.text;
      body.appendChild(note);
    }
    element.appendChild(avatar);
    element.appendChild(body);
    return element;
  }

  function renderAdaptive(conversation, message, attachment) {
    var holder = document.createElement("div");
    holder.className = "card" + (attachment.userSpecific ? " user-specific" : "");
    var rendered;
    try {
      rendered = renderCard(attachment.content, function (action) {
        onCardAction(conversation, message, holder, action);
      });
    } catch (error) {
      holder.textContent = "This card could not be shown: " + error;
      return holder;
    }
    if (rendered.element) {
      holder.appendChild(rendered.element);
    }
    if (!attachment.userSpecific) {
      return holder;
    }
    var wrapper = document.createElement("div");
    var note = document.createElement("div");
    note.className = "private-note";
    note.textContent = "Only you can see this view.";
    wrapper.appendChild(holder);
    wrapper.appendChild(note);
    return wrapper;
  }

  function renderOAuth(conversation, message, attachment) {
    if (message.sso === "signed_in") {
      /* As in Teams: a silent SSO sign-in shows no card. */
      var done = document.createElement("div");
      done.className = "signed-in oauth-state";
      done.textContent = "✓ Signed in with your Teams account";
      return done;
    }
    var holder = document.createElement("div");
    holder.className = "card oauth";
    var content = attachment.content || {};
    var title = document.createElement("div");
    title.className = "oauth-title";
    title.textContent = content.text || "Sign in";
    holder.appendChild(title);
    var status = document.createElement("div");
    status.className = "oauth-state";
    if (message.sso === "pending") {
      status.textContent = "Signing you in…";
    } else {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "oauth-signin";
      button.textContent = "Sign in";
      button.addEventListener("click", function () {
        button.disabled = true;
        api("POST", "/_chat/signin", { user: state.user, conversation: conversation.id, activityId: message.id })
          .catch(function (error) {
            state.notices[message.id] = { text: String(error.message || error), error: true };
          })
          .then(poll);
      });
      holder.appendChild(button);
      status.textContent = message.sso === "failed" ? "Sign-in failed; try again." : "";
    }
    holder.appendChild(status);
    return holder;
  }

  function onCardAction(conversation, message, holder, action) {
    if (action.type === "Action.OpenUrl") {
      state.notices[message.id] = { text: "Opens " + action.url + " (not followed in the sandbox)." };
      render();
      return;
    }
    if (action.type !== "Action.Execute" && action.type !== "Action.Submit") {
      return;
    }
    holder.classList.add("busy");
    delete state.notices[message.id];
    api("POST", "/_chat/action", {
      user: state.user,
      conversation: conversation.id,
      activityId: message.id,
      actionType: action.type,
      verb: action.verb,
      data: action.data,
      inputs: action.inputs,
    })
      .then(function (result) {
        var response = result.response || {};
        if (response.type && response.type !== ADAPTIVE && response.message) {
          state.notices[message.id] = { text: response.message, error: (response.statusCode || 200) >= 400 };
        }
      })
      .catch(function (error) {
        state.notices[message.id] = { text: String(error.message || error), error: true };
      })
      .then(function () {
        holder.classList.remove("busy");
        if (state.rendered[message.id]) {
          state.rendered[message.id].key = "";
        }
        return poll();
      });
  }

  function requestRefresh(conversation, message) {
    var key = message.id + "@" + message.version + "@" + state.user;
    if (state.refreshing[key]) {
      return;
    }
    state.refreshing[key] = true;
    api("POST", "/_chat/refresh", { user: state.user, conversation: conversation.id, activityId: message.id })
      .catch(function (error) {
        state.notices[message.id] = { text: String(error.message || error), error: true };
      })
      .then(poll);
  }

  var polling = null;

  function poll() {
    if (!state.user) {
      return Promise.resolve();
    }
    if (polling) {
      return polling;
    }
    var user = state.user;
    polling = api("GET", "/_chat/conversations?user=" + encodeURIComponent(user))
      .then(function (result) {
        if (user !== state.user) {
          return;
        }
        state.conversations = result.conversations;
        if (!current() && state.conversations.length) {
          state.conversationId = state.conversations[0].id;
        }
        render();
      })
      .catch(function () {
        /* the sandbox may be restarting: try again on the next tick */
      })
      .then(function () {
        polling = null;
      });
    return polling;
  }

  switcher.addEventListener("change", function () {
    state.user = switcher.value;
    window.localStorage.setItem("sandbox-chat-user", state.user);
    state.conversations = [];
    state.conversationId = "";
    state.rendered = {};
    state.notices = {};
    messagesEl.innerHTML = "";
    poll();
  });

  composeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = composeInput.value.trim();
    var conversation = current();
    if (!text || !conversation) {
      return;
    }
    composeInput.value = "";
    api("POST", "/_chat/send", { user: state.user, conversation: conversation.id, text: text })
      .catch(function (error) {
        window.alert("Could not send: " + (error.message || error));
      })
      .then(poll);
    window.setTimeout(poll, 150);
  });

  api("GET", "/_chat/users").then(function (result) {
    state.users = result.users;
    state.bot = result.bot;
    var known = state.users.some(function (user) {
      return user.aadObjectId === state.user || user.id === state.user;
    });
    if (!known && state.users.length) {
      state.user = state.users[0].aadObjectId;
    }
    renderUsers();
    poll();
    window.setInterval(poll, POLL_MS);
  });
})();
