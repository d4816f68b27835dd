"""The chat tier in a real browser (Debian's chromium, driven by playwright).

--chat: a skiff-chat in front of a real `skiff serve` (the default model): send by keyboard, see the
answer stream in, stop it, reload and find the conversation, regenerate.
--canned-chat: a skiff-chat in front of the stand-in upstream, whose models "markdown" and "injection"
answer with fixed texts: Markdown with code renders (with a copy button); <script> and <img onerror>
show as text and never run.
Exits non-zero with a message on the first failed check.
"""

import argparse
import sys
import time

from playwright.sync_api import expect, sync_playwright

# Deadlines only catch hangs: a busy 2-core machine may take many seconds per answer. playwright's
# `expect` has a default of its own (5 s) that the page's default timeout does not change.
TIMEOUT_MS = 120_000
expect.set_options(timeout=TIMEOUT_MS)
problems = []


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # A CSP violation or a script error shows up as a console error or a page error.
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda response: problems.append(f"{response.status} for {response.url}") if response.status >= 400 else None)
    page.goto(url + "/")
    return page


def new_conversation(page, settings):
    """Creates a conversation through the app's own API (with the page's CSRF token) and opens it."""
    url = page.evaluate(
        """async (settings) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch("/api/conversations", {method: "POST", body: JSON.stringify(settings),
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}});
            return (await response.json()).url;
        }""",
        settings,
    )
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + url)


def send_by_keyboard(page, text):
    """Types into the focused message box and presses Enter: no mouse."""
    check(page.evaluate("document.activeElement.id") == "composer-input", "the message box has no focus on load")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def last_answer(page):
    return page.locator("#messages > li.assistant").last


def real_model(browser, url, screenshot):
    page = open_page(browser, url)
    # Shift+Enter is a new line, not a send.
    page.focus("#composer-input")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    check(page.input_value("#composer-input") == "first line\nsecond line", "Shift+Enter did not make a new line")
    check(page.locator("#messages > li").count() == 0, "Shift+Enter sent the message")
    page.fill("#composer-input", "")

    # A long answer, streamed: the text grows while the answer is still streaming.
    send_by_keyboard(page, "Write a long story about a lighthouse keeper and a storm.")
    answer = last_answer(page)
    content = answer.locator(".content")
    expect(answer).to_have_class("message assistant state-streaming")
    lengths = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(set(lengths)) < 3:
        check("state-streaming" in (answer.get_attribute("class") or ""), "the answer ended before it was seen streaming")
        length = len(content.inner_text())
        if length > 0:
            lengths.append(length)
        time.sleep(0.05)
    check(len(set(lengths)) >= 3, f"the answer did not stream in: lengths seen {sorted(set(lengths))}")
    check(page.locator("#stop-button").is_visible(), "no Stop button while streaming")
    check(not page.locator("#send-button").is_visible(), "a Send button while streaming")

    # Stop: the answer keeps what arrived and says it was stopped.
    page.click("#stop-button")
    expect(answer).to_have_class("message assistant state-stopped")
    expect(answer.locator(".notice")).to_have_text("Stopped.")
    stopped_text = content.inner_text()
    check(stopped_text.strip() != "", "the stopped answer lost its text")
    conversation_url = page.url
    check("/c/" in conversation_url, f"the conversation has no URL of its own: {conversation_url}")

    # Reload: the conversation is in the sidebar, with its question and the stopped answer. The server stores the
    # stop when the stream's end reaches it, which a busy machine may delay: reload until the stored answer says
    # stopped (a reloaded page shows what is stored, it does not follow an answer still streaming there).
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        page.reload()
        messages = page.locator("#messages > li")
        expect(messages).to_have_count(2)
        if "state-stopped" in (messages.nth(1).get_attribute("class") or "") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    expect(page.locator("#conversation-list a[aria-current=page]")).to_have_text("Write a long story about a lighthouse keeper and a storm.")
    expect(messages.nth(0).locator(".content")).to_have_text("Write a long story about a lighthouse keeper and a storm.")
    expect(messages.nth(1)).to_have_class("message assistant state-stopped")
    expect(messages.nth(1).locator(".notice")).to_have_text("Stopped.")
    # The server may have stored a few tokens more than the page had painted when Stop was pressed.
    reloaded = messages.nth(1).locator(".content").inner_text().strip()
    shown = stopped_text.strip()
    common = min(len(reloaded), len(shown))
    check(common > 0 and reloaded[:common] == shown[:common], f"the stored answer differs: {reloaded[:80]!r} vs {shown[:80]!r}")

    # Shorter answers from here on (the settings panel saves per conversation), then Regenerate.
    page.click("#settings summary")
    page.fill("#setting-max-tokens", "24")
    page.press("#setting-max-tokens", "Tab")
    expect(page.locator("#settings-status")).to_have_text("Saved.")
    page.click("#settings summary")
    page.get_by_role("button", name="Regenerate").click()
    answer = last_answer(page)
    expect(answer).to_have_class("message assistant state-complete")
    expect(answer.locator(".stats")).to_contain_text("answer tokens")
    check(answer.locator(".content").inner_text().strip() != "", "the regenerated answer is empty")
    expect(page.locator("#messages > li")).to_have_count(2)

    # A second question, sent with the keyboard only; then the page after a reload holds all four.
    page.focus("#composer-input")
    send_by_keyboard(page, "What is the capital of France?")
    expect(page.locator("#messages > li")).to_have_count(4)
    expect(last_answer(page)).to_have_class("message assistant state-complete")
    page.reload()
    expect(page.locator("#messages > li")).to_have_count(4)
    expect(page.locator("#messages > li.assistant.state-complete")).to_have_count(2)
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#send-button")).to_be_visible()
    if screenshot:
        page.set_viewport_size({"width": 1100, "height": 860})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=screenshot)
    page.context.close()


def canned_answers(browser, url):
    page = open_page(browser, url)

    # Markdown with a code block renders as elements; Copy puts the code on the clipboard.
    new_conversation(page, {"model": "markdown"})
    send_by_keyboard(page, "Show me some Markdown")
    answer = last_answer(page)
    expect(answer).to_have_class("message assistant state-complete")
    expect(answer.locator("h3")).to_have_text("Squares")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("ul > li")).to_have_count(2)
    expect(answer.locator("table td").first).to_have_text("3")
    code = answer.locator(".code-block pre code")
    expect(code).to_have_text("let squares = (1...3).map { $0 * $0 }\nprint(squares)")
    expect(answer.locator(".code-block .code-language")).to_have_text("swift")
    copy = answer.get_by_role("button", name="Copy code")
    copy.click()
    expect(copy).to_have_text("Copied")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    check(clipboard == "let squares = (1...3).map { $0 * $0 }\nprint(squares)", f"the clipboard holds {clipboard!r}")

    # Markup in an answer is text, live and after a reload (server-rendered then).
    new_conversation(page, {"model": "injection"})
    send_by_keyboard(page, "Say something dangerous")
    answer = last_answer(page)
    expect(answer).to_have_class("message assistant state-complete")
    for attempt in ("live", "reloaded"):
        if attempt == "reloaded":
            page.reload()
            answer = last_answer(page)
        expect(answer.locator(".content")).to_contain_text('<script>window.injected = 1</script>')
        expect(answer.locator(".content")).to_contain_text('<img src="x" onerror="window.injected = 2">')
        check(page.locator("#messages script, #messages img").count() == 0, f"markup became elements ({attempt})")
        time.sleep(0.2)
        check(page.evaluate("window.injected") is None, f"the injected script ran ({attempt})")
    page.context.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chat", required=True)
    parser.add_argument("--canned-chat", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--screenshot")
    options = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=options.chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            canned_answers(browser, options.canned_chat)
            real_model(browser, options.chat, options.screenshot)
        finally:
            browser.close()
    check(not problems, f"the page logged errors: {problems}")
    print("browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
