"""The rewriter: every character outside rewritten href values stays as it was."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.instrumentation.beacons import PIXEL_STYLE, PixelPosition
from mailbeacon.core.instrumentation.linkrules import LinkRules, SkipReason, clean_url, uri_of
from mailbeacon.core.instrumentation.rewrite import InstrumentedHtml, instrument_html, plan_html
from mailbeacon.core.instrumentation.tokens import Keyring, Purpose, TokenCodec
from mailbeacon.core.instrumentation.tracker import CopyTracker
from tests.strategies import Doc, documents

TODAY = date(2026, 11, 23)
CODEC = TokenCodec(Keyring.parse("1:" + "s" * 40))
COPY_ID = 4242


def tracker(copy_id: int = COPY_ID) -> CopyTracker:
    return CopyTracker(CODEC, "https://t.track.example", copy_id, TODAY)


def undo(source: str, result: InstrumentedHtml) -> str:
    """Take the beacons out and put the original href values back, by text search only."""
    out = result.html
    for insertion in result.insertions:
        assert out.count(insertion.text) == 1
        out = out.replace(insertion.text, "", 1)
    for link in result.links:
        assert out.count(link.tracking_url) == 1
        out = out.replace(link.tracking_url, source[link.value_start : link.value_end], 1)
    return out


@given(documents(), st.booleans(), st.booleans(), st.sampled_from(list(PixelPosition)))
def test_removing_the_rewrites_gives_back_the_input(
    doc: Doc, honeypot: bool, opens: bool, position: PixelPosition
) -> None:
    result = instrument_html(
        doc.text, tracker(), honeypot=honeypot, opens=opens, pixel_position=position
    )
    assert undo(doc.text, result) == doc.text


@given(documents())
def test_exactly_the_rendered_trackable_links_are_tracked_in_order(doc: Doc) -> None:
    result = instrument_html(doc.text, tracker())
    # each stored as the URI a browser would request (a destination no URI can be made of
    # is not tracked: the documents here have none)
    assert tuple(link.url for link in result.links) == tuple(map(uri_of, doc.tracked))
    assert [link.link_index for link in result.links] == list(range(len(doc.tracked)))


@given(documents())
def test_each_rewritten_url_carries_a_token_for_its_link(doc: Doc) -> None:
    result = instrument_html(doc.text, tracker(), honeypot=True)
    for link in result.links:
        prefix, token = link.tracking_url.rsplit("/", 1)
        assert prefix == "https://t.track.example/c"
        claims = CODEC.verify(Purpose.CLICK, token, today=TODAY).claims
        assert (claims.copy_id, claims.link_index) == (COPY_ID, link.link_index)
        # the stored URL is what the source's attribute value decodes to, as a URI
        assert uri_of(clean_url(doc.text[link.value_start : link.value_end])) == link.url


def test_only_the_href_value_changes_whatever_the_quoting() -> None:
    html = (
        "<A HREF=https://a.example/x>a</A>"
        "<a class=b href='https://b.example/?q=1&amp;r=2'>b</a>"
        '<area shape=rect href="https://c.example/" alt="Map &amp; more">'
    )
    result = instrument_html(html, tracker(), opens=False)
    one, two, three = (link.tracking_url for link in result.links)
    assert result.html == (
        f"<A HREF={one}>a</A><a class=b href='{two}'>b</a>"
        f'<area shape=rect href="{three}" alt="Map &amp; more">'
    )
    assert [link.url for link in result.links] == [
        "https://a.example/x",
        "https://b.example/?q=1&r=2",
        "https://c.example/",
    ]
    assert [link.anchor_text for link in result.links] == ["a", "b", "Map & more"]


def test_outlook_vml_buttons_and_their_fallback_are_both_tracked() -> None:
    html = (
        '<!--[if mso]><v:roundrect href="https://x.example/buy" arcsize="10%">'
        '<w:anchorlock/><center style="color:#fff">Buy  now</center></v:roundrect><![endif]-->'
        '<!--[if !mso]><!-- --><a href="https://x.example/buy">Buy now</a><!--<![endif]-->'
    )
    result = instrument_html(html, tracker(), opens=False)
    assert [(link.element, link.anchor_text) for link in result.links] == [
        ("v:roundrect", "Buy now"),
        ("a", "Buy now"),
    ]
    assert "<!--[if mso]>" in result.html
    assert "<w:anchorlock/>" in result.html


def test_anchor_text_is_visible_text_or_image_alt() -> None:
    html = (
        '<a href="https://a.example/1">  Read <b>the</b>\n  guide &rarr; </a>'
        '<a href="https://a.example/2"><img src="x.png" alt="Our logo"></a>'
        '<a href="https://a.example/3">' + "long " * 100 + "</a>"
    )
    texts = [link.anchor_text for link in instrument_html(html, tracker()).links]
    assert texts[0] == "Read the guide \u2192"
    assert texts[1] == "Our logo"
    assert len(texts[2]) <= 200
    assert texts[2].startswith("long long")


def test_skipped_links_are_reported_with_their_reason() -> None:
    html = (
        '<a href="mailto:a@b.example">m</a><a href="#top">t</a>'
        '<a href="https://x.example/unsubscribe?u=1">u</a>'
        '<a href="https://x.example/p" data-msys-clicktrack="0">o</a>'
        '<a href="https://x.example/q" data-mailbeacon-track="OFF">o</a>'
        '<a href="https://cdn.partner.example/a">e</a>'
        '<a href="https://t.track.example/c/already">t</a>'
    )
    rules = LinkRules.build(excluded_domains=["partner.example"])
    result = instrument_html(html, tracker(), rules=rules)
    assert result.links == ()
    assert [s.reason for s in result.skipped] == [
        SkipReason.NOT_WEB,
        SkipReason.FRAGMENT,
        SkipReason.UNSUBSCRIBE,
        SkipReason.OPTED_OUT,
        SkipReason.OPTED_OUT,
        SkipReason.EXCLUDED_DOMAIN,
        SkipReason.TRACKING_HOST,
    ]


def test_pixel_goes_right_after_body_by_default() -> None:
    html = '<!DOCTYPE html><html><body class="x">\n<p>Hi</p>\n</body></html>'
    result = instrument_html(html, tracker())
    pixel = result.insertions[0].text
    assert result.html == html.replace('<body class="x">', f'<body class="x">{pixel}')
    assert pixel.startswith('<img src="https://t.track.example/o/')
    assert 'width="1" height="1" alt=""' in pixel
    assert PIXEL_STYLE in pixel
    assert "display:none" not in pixel


def test_pixel_goes_before_the_last_body_end_when_asked() -> None:
    html = "<body><p>Hi</p></body>"
    result = instrument_html(html, tracker(), pixel_position=PixelPosition.BOTTOM)
    assert result.html == f"<body><p>Hi</p>{result.insertions[0].text}</body>"


def test_documents_without_body_get_the_pixel_after_their_prologue_or_at_the_end() -> None:
    top = instrument_html("<!doctype html><p>Hi</p>", tracker())
    assert top.html.startswith("<!doctype html><img ")
    fragment = instrument_html("<p>Hi</p>", tracker())
    assert fragment.html.startswith("<img ")
    bottom = instrument_html("<p>Hi</p>", tracker(), pixel_position=PixelPosition.BOTTOM)
    assert bottom.html.startswith("<p>Hi</p><img ")


def test_the_honeypot_is_hidden_from_people_and_only_with_click_tracking() -> None:
    html = "<body><p>Hi</p></body>"
    result = instrument_html(html, tracker(), honeypot=True)
    honeypot = result.insertions[1].text
    for hidden in ('aria-hidden="true"', 'tabindex="-1"', "mso-hide:all", "display:none"):
        assert hidden in honeypot
    assert honeypot.endswith("></a>")  # no text
    token = honeypot.split('href="', 1)[1].split('"', 1)[0].rsplit("/", 1)[1]
    assert CODEC.verify(Purpose.HONEYPOT, token, today=TODAY).claims.copy_id == COPY_ID
    assert "/c/" in honeypot  # looks like any other link
    no_clicks = instrument_html(html, tracker(), honeypot=True, clicks=False)
    assert len(no_clicks.insertions) == 1


def test_size_and_the_gmail_clipping_threshold() -> None:
    small = instrument_html("<body>hi</body>", tracker())
    assert small.size == len(small.html.encode())
    assert not small.clipped_by_gmail
    big = instrument_html("<body>" + "\u00e9" * 60_000 + "</body>", tracker())
    assert big.clipped_by_gmail  # 120 KB of UTF-8


def test_link_numbering_continues_across_parts() -> None:
    result = instrument_html('<a href="https://a.example/">a</a>', tracker(), first_link_index=5)
    assert result.links[0].link_index == 5


def test_one_plan_renders_each_recipient_copy() -> None:
    plan = plan_html('<a href="https://a.example/">a</a>', LinkRules())
    first, second = plan.render(tracker(1)), plan.render(tracker(2))
    assert first.links[0].url == second.links[0].url
    assert first.links[0].tracking_url != second.links[0].tracking_url


def test_nothing_changes_when_nothing_is_tracked() -> None:
    html = '<body><a href="https://a.example/">a</a></body>'
    assert instrument_html(html, tracker(), opens=False, clicks=False).html == html
