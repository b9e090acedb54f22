"""The web page in a real browser (the system's Chromium, driven by Playwright) against a
real ``qa serve``: ask, read the answer and its translation, follow the citation, the
"don't say" state, a shared ``/?q=`` link, and a document uploaded, found and deleted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qa.ingest import load_documents
from qa.testing import running_server
from tests.helpers import HUANG_DOC, REPO, build_index, original_text

CHROMIUM = Path("/usr/bin/chromium")


STORY = (
    "A fábrica de semicondutores de Manaus anunciou em março que vai contratar 450 "
    "engenheiros até o fim do ano. A diretora Helena Prado disse que a produção de chips "
    "começa em outubro, com investimento de R$ 2 bilhões."
)


@pytest.fixture(scope="module")
def base(embedder, tmp_path_factory) -> Iterator[str]:
    """A server over its own index of the seeds, read as `make run` reads them (sources
    relative to the repository), which the tests may change."""
    index_dir = tmp_path_factory.mktemp("web") / "index"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        docs = load_documents([Path("seeds")])
    finally:
        os.chdir(cwd)
    build_index(docs, embedder, index_dir)
    with running_server(index_dir) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # A missing browser is a failure, not a skip: .ci/run installs Chromium.
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def ask(page, base: str, question: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Question, in any language").fill(question)
    page.keyboard.press("Enter")
    page.wait_for_selector("#answer-card, #no-answer")


def test_an_english_question_shows_the_english_answer_and_the_marked_passage(page, base, tmp_path):
    ask(page, base, "what did Huang say about investors?")
    translation = page.locator("#answer-translation").inner_text()
    assert "investor" in translation.lower()
    original = page.locator("#answer-text").inner_text()
    # one of the question set's gold sentences for it (eval/questions.jsonl, q001)
    gold = ("investidores avaliaram mal", "entenderam tudo errado", "equívocos predominantes")
    assert any(snippet in original for snippet in gold), original
    first = page.locator("li.result").first
    assert HUANG_DOC in first.locator("a.citation").get_attribute("href")
    marked = first.locator("mark").inner_text()
    assert marked and marked in first.locator("p.passage").inner_text()
    assert "question language: en" in page.locator("#results h2").inner_text()
    # passages stand under their document, each document once; scores wait behind a toggle
    groups = page.locator("section.doc-group")
    documents = [groups.nth(i).get_attribute("data-doc") for i in range(groups.count())]
    assert len(documents) == len(set(documents)) and HUANG_DOC in documents
    assert page.locator("section.doc-group h3").count() == len(documents)
    score = page.locator("li.result details.score").first
    assert score.get_attribute("open") is None and score.inner_text().strip() == "score"
    assert "q=what+did+Huang" in page.url or "q=what%20did%20Huang" in page.url
    # QA_SCREENSHOT_DIR=docs/images refreshes the README's picture
    folder = Path(os.environ.get("QA_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "answer.png"))
    assert (folder / "answer.png").stat().st_size > 10_000


def test_the_citation_opens_the_document_with_the_exact_span_marked(page, base):
    ask(page, base, "what did Huang say about investors?")
    link = page.locator("#answer-card a.citation")
    href = link.get_attribute("href")
    link.click()
    page.wait_for_selector("mark#cited")
    start, end = (int(x.split("=")[1]) for x in href.split("?")[1].split("&"))
    assert page.locator("mark#cited").inner_text() == original_text(HUANG_DOC)[start:end]
    assert (
        page.locator("mark#cited").inner_text()
        == page.evaluate("document.getElementById('text').textContent")[start:end]
    )


def test_an_off_topic_question_shows_that_the_articles_dont_say(page, base):
    ask(page, base, "What is the capital of Australia?")
    assert "don't say" in page.locator("#no-answer").inner_text()
    assert page.locator("li.result").count() > 0  # the closest passages are still listed
    assert "Closest passages" in page.locator("#results h2").inner_text()


def test_a_shared_link_opens_on_the_answer(page, base):
    page.goto(base + "/?q=" + "Quantas%20GPUs%20foram%20usadas%20para%20treinar%20o%20R1%3F")
    page.wait_for_selector("#answer-card")
    assert "2.000 GPUs H800" in page.locator("#answer-text").inner_text()
    assert page.locator("#answer-translation").count() == 0  # asked in the article's language
    assert page.get_by_label("Question, in any language").input_value().startswith("Quantas")


def test_upload_find_and_delete_a_document(page, base, tmp_path):
    story = tmp_path / "manaus-chips.txt"
    story.write_text("Fábrica de chips em Manaus\n\n" + STORY, encoding="utf-8")
    other = tmp_path / "nota.md"
    other.write_text("# Nota\n\nA prefeitura de Belém abriu inscrições para 200 vagas.\n")
    page.goto(base + "/documents")
    page.wait_for_selector("tbody#rows tr")
    page.get_by_label("Add articles").set_input_files([str(story), str(other)])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector('tr[data-id="manaus-chips.txt"]')
    page.wait_for_selector('tr[data-id="nota.md"]')  # several files in one upload
    assert "manaus-chips.txt (new)" in page.locator("#status").inner_text()

    ask(page, base, "Quantos engenheiros a fábrica de Manaus vai contratar?")
    assert page.locator("#answer-card").count() == 1
    assert "450 engenheiros" in page.locator("#answer-text").inner_text()

    page.goto(base + "/documents")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete Fábrica de chips em Manaus").click()
    page.wait_for_selector('tr[data-id="manaus-chips.txt"]', state="detached")
    page.get_by_role("button", name="Delete Nota").click()
    page.wait_for_selector('tr[data-id="nota.md"]', state="detached")
    ask(page, base, "Quantos engenheiros a fábrica de Manaus vai contratar?")
    for citation in page.locator("li.result a.citation").all():
        assert "manaus-chips.txt" not in citation.get_attribute("href")


def test_a_whole_folder_uploads_with_the_ids_of_its_paths(page, base, tmp_path):
    """The folder picker sends the folder's readable files, named by their path inside it
    (as `qa add folder/` names them), and says which it left out."""
    folder = tmp_path / "relatorios"
    (folder / "norte").mkdir(parents=True)
    (folder / "norte" / "belem.txt").write_text(
        "Belém\n\nA prefeitura de Belém abriu inscrições para 200 vagas.", encoding="utf-8"
    )
    (folder / "manaus.md").write_text("# Manaus\n\n" + STORY, encoding="utf-8")
    (folder / "planilha.rtf").write_bytes(b"{\\rtf1 x}")
    (folder / ".oculto.txt").write_text("Nada.", encoding="utf-8")
    page.goto(base + "/documents")
    page.wait_for_selector("tbody#rows tr")
    page.get_by_label("Or a whole folder").set_input_files(str(folder))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector('tr[data-id="norte/belem.txt"]')
    page.wait_for_selector('tr[data-id="manaus.md"]')
    status = page.locator("#status").inner_text()
    assert "Left out (not a readable type): planilha.rtf" in status and "oculto" not in status
    page.on("dialog", lambda dialog: dialog.accept())
    for title in ("Belém", "Manaus"):
        page.get_by_role("button", name=f"Delete {title}").click()
    page.wait_for_selector('tr[data-id="norte/belem.txt"]', state="detached")
    page.wait_for_selector('tr[data-id="manaus.md"]', state="detached")


def test_the_page_is_usable_on_a_phone(browser, base):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(base + "/?q=How%20many%20GPUs%20were%20used%20to%20train%20R1%3F")
    page.wait_for_selector("#answer-card")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling
    page.goto(base + "/documents")
    page.wait_for_selector("tbody#rows tr button")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for button in page.locator("tbody#rows button").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390  # Delete within reach
    context.close()


def test_the_empty_home_page_shows_the_collection_and_questions_to_start_from(page, base):
    page.goto(base + "/")
    page.wait_for_selector("#collection:not([hidden])")
    text = page.locator("#collection").inner_text()
    assert "2 documents" in text
    example = page.locator("#collection ul.examples a").first
    example.click()
    page.wait_for_selector("#answer-card, #no-answer")
    assert page.locator("li.result").count() > 0
    assert page.locator("#collection").is_hidden()


def test_passages_keep_their_paragraph_breaks(page, base):
    ask(page, base, "what did Huang say about investors?")
    passages = page.locator("li.result p.passage")
    texts = [passages.nth(i).inner_text() for i in range(passages.count())]
    assert any("\n" in text.strip() for text in texts)  # stored text has blank lines


def test_a_missing_page_is_a_page_for_people_and_json_for_programs(page, base):
    response = page.goto(base + "/no/such/page")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert httpx.get(base + "/no/such/page").json()["error"]["code"] == "not_found"
    icon = httpx.get(base + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


def test_the_api_docs_load_offline(page, base):
    """Nothing leaves for another site: ReDoc's footer logo, which its script asks of a
    CDN, is stopped in the browser by the page's Content-Security-Policy."""
    answered: list[str] = []
    stopped: list[tuple[str, str]] = []
    page.on("response", lambda response: answered.append(response.url))
    page.on("requestfailed", lambda request: stopped.append((request.url, request.failure or "")))
    page.goto(base + "/docs")
    page.wait_for_selector(".swagger-ui .info")
    page.goto(base + "/redoc")
    page.wait_for_selector("h1")
    page.wait_for_load_state("networkidle")
    assert "/query" in page.content()
    assert [url for url in answered if not url.startswith((base, "data:", "blob:"))] == []
    assert all(why == "csp" for url, why in stopped if not url.startswith(base)), stopped


def test_swaggers_authorize_sends_the_key(browser, embedder, tmp_path):
    """The OpenAPI document declares the bearer key: Swagger's Authorize takes it and
    "Try it out" sends it (without it, the same call is refused)."""
    index_dir = tmp_path / "index"
    build_index(load_documents([REPO / "seeds"]), embedder, index_dir)
    with running_server(index_dir, QA_READ_KEYS="swagger-key") as (url, _):
        page = browser.new_page()
        page.goto(url + "/docs")
        page.click("button.authorize")
        page.fill(".modal-ux input", "swagger-key")
        page.click(".modal-ux .auth-btn-wrapper button.authorize")
        page.click(".modal-ux button.btn-done")
        page.click("#operations-query-query_query_post .opblock-summary")
        page.click("#operations-query-query_query_post button.try-out__btn")
        page.click("#operations-query-query_query_post button.execute")
        status = page.locator(
            "#operations-query-query_query_post .live-responses-table tbody .response-col_status"
        ).first
        status.wait_for()
        assert status.inner_text().strip().startswith("200")
        page.close()
        assert httpx.post(url + "/query", json={"question": "Huang"}).status_code == 401
