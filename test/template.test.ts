/**
 * URL templates (src/core/template.ts): what a `{key}` becomes, byte for byte.
 * Each table row is one case: template, data, default, and the exact URL expected.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkHttpUrl,
  compileTemplate,
  encodeRfc3986,
  hasFixedOrigin,
  renderTemplate,
} from "../src/core/template.js";

function render(source: string, data: Record<string, unknown>, defaultValue = ""): string {
  return renderTemplate(compileTemplate(source), data, defaultValue);
}

test("renders the seed sample byte for byte", () => {
  const got = render(
    "http://sample_domain_endpoint.com/data?title={mascot}&image={location}&foo={bar}",
    { mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" },
    "",
  );
  assert.equal(
    got,
    "http://sample_domain_endpoint.com/data?title=Gopher&image=https%3A%2F%2Fblog.golang.org%2Fgopher%2Fgopher.png&foo=",
  );
});

interface Case {
  name: string;
  template: string;
  data: Record<string, unknown>;
  default?: string;
  want: string;
}

const CASES: Case[] = [
  // strings and percent-encoding
  { name: "unreserved characters stay as they are", template: "http://h/?v={v}", data: { v: "AZaz09-._~" }, want: "http://h/?v=AZaz09-._~" },
  { name: "sub-delims !'()* are encoded, unlike encodeURIComponent", template: "http://h/?v={v}", data: { v: "!'()*" }, want: "http://h/?v=%21%27%28%29%2A" },
  { name: "space is %20, never +", template: "http://h/?v={v}", data: { v: "a b" }, want: "http://h/?v=a%20b" },
  { name: "a literal + is encoded", template: "http://h/?v={v}", data: { v: "1+1" }, want: "http://h/?v=1%2B1" },
  { name: "& and = cannot inject query parameters", template: "http://h/?v={v}&w=1", data: { v: "x&admin=true" }, want: "http://h/?v=x%26admin%3Dtrue&w=1" },
  { name: "/ ? # cannot change path, query or fragment", template: "http://h/p/{v}", data: { v: "../a?b#c" }, want: "http://h/p/..%2Fa%3Fb%23c" },
  { name: "% is encoded, so values are never double-decoded", template: "http://h/?v={v}", data: { v: "100%25" }, want: "http://h/?v=100%2525" },
  { name: "unicode is encoded as its UTF-8 bytes", template: "http://h/?v={v}", data: { v: "café 日本 😀" }, want: "http://h/?v=caf%C3%A9%20%E6%97%A5%E6%9C%AC%20%F0%9F%98%80" },
  { name: "a lone high surrogate becomes U+FFFD instead of throwing", template: "http://h/?v={v}", data: { v: "a\uD800b" }, want: "http://h/?v=a%EF%BF%BDb" },
  { name: "a lone low surrogate becomes U+FFFD instead of throwing", template: "http://h/?v={v}", data: { v: "\uDC00" }, want: "http://h/?v=%EF%BF%BD" },
  { name: "control characters are encoded", template: "http://h/?v={v}", data: { v: "a\nb\tc\u0000" }, want: "http://h/?v=a%0Ab%09c%00" },
  { name: "an empty string is kept empty, not replaced by the default", template: "http://h/?v={v}", data: { v: "" }, default: "dflt", want: "http://h/?v=" },

  // numbers and booleans: JSON text
  { name: "an integer is its JSON text", template: "http://h/?n={n}", data: { n: 42 }, want: "http://h/?n=42" },
  { name: "zero is 0, not the default", template: "http://h/?n={n}", data: { n: 0 }, default: "dflt", want: "http://h/?n=0" },
  { name: "a negative fraction is its JSON text", template: "http://h/?n={n}", data: { n: -1.5 }, want: "http://h/?n=-1.5" },
  { name: "an exponent's + is encoded", template: "http://h/?n={n}", data: { n: 1e21 }, want: "http://h/?n=1e%2B21" },
  { name: "true is true", template: "http://h/?b={b}", data: { b: true }, want: "http://h/?b=true" },
  { name: "false is false, not the default", template: "http://h/?b={b}", data: { b: false }, default: "dflt", want: "http://h/?b=false" },

  // null and missing: the default, encoded
  { name: "a missing key becomes the default", template: "http://h/?v={v}", data: {}, default: "none", want: "http://h/?v=none" },
  { name: "null becomes the default", template: "http://h/?v={v}", data: { v: null }, default: "none", want: "http://h/?v=none" },
  { name: "a missing key with the empty default becomes nothing", template: "http://h/?v={v}&w=1", data: {}, want: "http://h/?v=&w=1" },
  { name: "the default is percent-encoded like a value", template: "http://h/?v={v}", data: {}, default: "n/a & more", want: "http://h/?v=n%2Fa%20%26%20more" },
  { name: "inherited properties are not data: {constructor} is missing", template: "http://h/?v={constructor}&w={toString}", data: {}, default: "d", want: "http://h/?v=d&w=d" },
  { name: "inherited properties are not data on a nested path either", template: "http://h/?v={a.constructor}", data: { a: {} }, default: "d", want: "http://h/?v=d" },

  // objects and arrays: JSON text, encoded
  { name: "an object is its JSON text, encoded", template: "http://h/?o={o}", data: { o: { a: 1, b: "x y" } }, want: "http://h/?o=%7B%22a%22%3A1%2C%22b%22%3A%22x%20y%22%7D" },
  { name: "an array is its JSON text, encoded", template: "http://h/?a={a}", data: { a: [1, "two", null] }, want: "http://h/?a=%5B1%2C%22two%22%2Cnull%5D" },
  { name: "an empty object is {} encoded", template: "http://h/?o={o}", data: { o: {} }, want: "http://h/?o=%7B%7D" },

  // keys
  { name: "a key with spaces is looked up as written", template: "http://h/?v={first name}", data: { "first name": "Ann" }, want: "http://h/?v=Ann" },
  { name: "a key with a dot finds the literal key first", template: "http://h/?v={a.b}", data: { "a.b": "literal", a: { b: "nested" } }, want: "http://h/?v=literal" },
  { name: "a key with dots falls back to a nested path", template: "http://h/?v={a.b.c}", data: { a: { b: { c: "deep" } } }, want: "http://h/?v=deep" },
  { name: "a nested path through a missing step becomes the default", template: "http://h/?v={a.x.c}", data: { a: { b: 1 } }, default: "d", want: "http://h/?v=d" },
  { name: "a nested path through a scalar becomes the default", template: "http://h/?v={a.b}", data: { a: "str" }, default: "d", want: "http://h/?v=d" },
  { name: "a nested path ending at null becomes the default", template: "http://h/?v={a.b}", data: { a: { b: null } }, default: "d", want: "http://h/?v=d" },
  { name: "a nested path can index an array", template: "http://h/?v={a.1}", data: { a: ["x", "y"] }, want: "http://h/?v=y" },
  { name: "a nested object value is its JSON text", template: "http://h/?v={a.b}", data: { a: { b: { c: 1 } } }, want: "http://h/?v=%7B%22c%22%3A1%7D" },
  { name: "a unicode key is looked up as written", template: "http://h/?v={café}&w={名前}", data: { "café": "au lait", "名前": "Go" }, want: "http://h/?v=au%20lait&w=Go" },
  { name: "keys are case-sensitive", template: "http://h/?v={Mascot}", data: { mascot: "Gopher" }, default: "d", want: "http://h/?v=d" },

  // braces that are not placeholders
  { name: "a lone { stays as it is", template: "http://h/?v={&w={w}", data: { w: "1" }, want: "http://h/?v={&w=1" },
  { name: "a lone } stays as it is", template: "http://h/?v=}&w={w}", data: { w: "1" }, want: "http://h/?v=}&w=1" },
  { name: "{} stays as it is", template: "http://h/{}?w={w}", data: { w: "1", "": "empty-key" }, want: "http://h/{}?w=1" },
  { name: "{{k}} keeps the outer braces and renders the inner key", template: "http://h/{{k}}", data: { k: "v" }, want: "http://h/{v}" },
  { name: "a { before a placeholder stays literal", template: "http://h/{a{k}", data: { k: "v", "a{k": "no" }, want: "http://h/{av" },

  // repeats and none
  { name: "a repeated key is rendered at each place", template: "http://h/{k}/{k}?k={k}", data: { k: "x y" }, want: "http://h/x%20y/x%20y?k=x%20y" },
  { name: "adjacent placeholders are rendered back to back", template: "http://h/{a}{b}", data: { a: "1", b: "2" }, want: "http://h/12" },
  { name: "a template with no placeholders is unchanged", template: "http://h/fixed?x=1&y=%41", data: { x: "ignored" }, want: "http://h/fixed?x=1&y=%41" },
  { name: "a template that is only a placeholder renders the value encoded", template: "{u}", data: { u: "http://h/" }, want: "http%3A%2F%2Fh%2F" },
];

for (const c of CASES) {
  test(`renders: ${c.name}`, () => {
    assert.equal(render(c.template, c.data, c.default ?? ""), c.want);
  });
}

test("a compiled template lists its keys once each, in order of first use, and its literal prefix", () => {
  const t = compileTemplate("http://h/{b}/{a}?x={b}&y={c.d}");
  assert.deepEqual(t.keys, ["b", "a", "c.d"]);
  assert.equal(t.prefix, "http://h/");
  assert.equal(t.source, "http://h/{b}/{a}?x={b}&y={c.d}");
  assert.deepEqual(compileTemplate("{a}/x").prefix, "");
  assert.deepEqual(compileTemplate("http://h/{}").keys, []);
  assert.deepEqual(compileTemplate("http://h/plain").keys, []);
});

test("a compiled template renders many data objects independently", () => {
  const t = compileTemplate("http://h/?v={v}");
  assert.equal(renderTemplate(t, { v: "one" }, ""), "http://h/?v=one");
  assert.equal(renderTemplate(t, { v: "two" }, ""), "http://h/?v=two");
  assert.equal(renderTemplate(t, {}, "d"), "http://h/?v=d");
});

test("encodeRfc3986 keeps exactly A-Z a-z 0-9 - . _ ~ of all 128 ASCII characters", () => {
  for (let code = 0; code < 128; code++) {
    const c = String.fromCharCode(code);
    const unreserved = /[A-Za-z0-9\-._~]/.test(c);
    const want = unreserved ? c : "%" + code.toString(16).toUpperCase().padStart(2, "0");
    assert.equal(encodeRfc3986(c), want, `character ${code} (${JSON.stringify(c)})`);
  }
});

test("encodeRfc3986 encodes each UTF-8 byte with upper-case hex", () => {
  assert.equal(encodeRfc3986("é"), "%C3%A9");
  assert.equal(encodeRfc3986("€"), "%E2%82%AC");
  assert.equal(encodeRfc3986("😀"), "%F0%9F%98%80");
  assert.equal(encodeRfc3986("\u00ff"), "%C3%BF");
  assert.equal(encodeRfc3986(""), "");
});

test("encodeRfc3986 never throws on lone surrogates", () => {
  for (const s of ["\uD800", "\uDBFF", "\uDC00", "\uDFFF", "x\uDFFF\uD800y"]) {
    assert.doesNotThrow(() => encodeRfc3986(s), `lone surrogate in ${JSON.stringify(s)}`);
  }
  assert.equal(encodeRfc3986("x\uDFFF\uD800y"), "x%EF%BF%BD%EF%BF%BDy");
  // A well-formed pair is still one code point, not two replacements.
  assert.equal(encodeRfc3986("\uD83D\uDE00"), "%F0%9F%98%80");
});

const ORIGIN_CASES: { template: string; fixed: boolean; why: string }[] = [
  { template: "http://h/data?title={mascot}", fixed: true, why: "placeholders only after the path starts" },
  { template: "https://partner.example:8443/{p}", fixed: true, why: "a port in the literal host" },
  { template: "http://h?x={x}", fixed: true, why: "the query starts right after the host" },
  { template: "http://h#{x}", fixed: true, why: "the fragment starts right after the host" },
  { template: "HTTP://H/{x}", fixed: true, why: "the scheme is case-insensitive" },
  { template: "http://h/plain", fixed: true, why: "no placeholder at all" },
  { template: "ftp://h/plain", fixed: true, why: "no placeholder at all, whatever the scheme" },
  { template: "http://{host}/x", fixed: false, why: "the host comes from data" },
  { template: "http://h{suffix}/x", fixed: false, why: "part of the host comes from data" },
  { template: "http://h:{port}/x", fixed: false, why: "the port comes from data" },
  { template: "http://user@{host}/x", fixed: false, why: "the host after user info comes from data" },
  { template: "{scheme}://h/x", fixed: false, why: "the scheme comes from data" },
  { template: "{url}", fixed: false, why: "the whole URL comes from data" },
  { template: "ftp://h/{x}", fixed: false, why: "not an http(s) prefix" },
  { template: "/relative/{x}", fixed: false, why: "no scheme or host" },
];

for (const c of ORIGIN_CASES) {
  test(`hasFixedOrigin is ${c.fixed} for ${c.template} (${c.why})`, () => {
    assert.equal(hasFixedOrigin(compileTemplate(c.template)), c.fixed);
  });
}

test("checkHttpUrl accepts absolute http and https URLs", () => {
  for (const url of ["http://h", "https://h/", "HTTP://H/x?y=1#z", "http://127.0.0.1:9000/data", "http://[::1]/", "https://sample_domain_endpoint.com/data?title=Gopher&foo="]) {
    assert.equal(checkHttpUrl(url), undefined, url);
  }
});

test("checkHttpUrl says why other URLs are refused", () => {
  assert.match(checkHttpUrl("ftp://h/file") ?? "", /scheme "ftp"/);
  assert.match(checkHttpUrl("file:///etc/passwd") ?? "", /scheme "file"/);
  assert.match(checkHttpUrl("javascript:alert(1)") ?? "", /scheme "javascript"/);
  assert.match(checkHttpUrl("mailto:a@b.c") ?? "", /only http and https/);
  assert.match(checkHttpUrl("/relative/path") ?? "", /not a valid absolute URL/);
  assert.match(checkHttpUrl("partner.example/data") ?? "", /not a valid absolute URL/);
  assert.match(checkHttpUrl("http://") ?? "", /not a valid absolute URL/);
  assert.match(checkHttpUrl("http://not%20a%20host/x") ?? "", /not a valid absolute URL/);
  assert.match(checkHttpUrl("") ?? "", /not a valid absolute URL/);
});

test("checkHttpUrl refuses a URL whose host is not the one its text names", () => {
  // WHATWG URL parsing reads each of these with a host the raw text does not have there.
  for (const [url, why] of [
    ["http:///127.0.0.1:9999/hook", /no host/],
    ["http:///x", /no host/],
    ["https:///x?y", /no host/],
    ["http:/x/y", /no host/],
    ["http:x", /no host/],
    ["http:\\\\x/y", /no host/],
    ["http://@/x", /no host|not a valid/],
    ["http://u@:80/x", /no host|not a valid/],
    ["http://2130706433/", /"2130706433".*"127\.0\.0\.1"/],
    ["http://0x7f.1/", /"0x7f\.1".*"127\.0\.0\.1"/],
    ["http://127.1:9999/", /"127\.1:9999".*"127\.0\.0\.1:9999"/],
    ["http://partner%2eexample/", /changes|is parsed/],
    ["http://part\tner.example/", /changes|is parsed/],
    ["http://partner.example./", undefined],
  ] as [string, RegExp | undefined][]) {
    if (why === undefined) assert.equal(checkHttpUrl(url), undefined, url);
    else assert.match(checkHttpUrl(url) ?? "(accepted)", why, url);
  }
});

test("checkHttpUrl takes a host that parsing only normalises", () => {
  for (const url of ["HTTP://PARTNER.example/", "http://partner.example:80/", "https://partner.example:443/", "http://partner.example:/x", "http://partner.example:0080/x", "https://partner.example:8443/", "http://[::FFFF:127.0.0.1]/", "http://[0:0:0:0:0:0:0:1]:8080/", "http://user:pa%40ss@partner.example/", "http://a@b@partner.example/", "http://bücher.example/", "http://xn--bcher-kva.example/", "http://partner.example?x", "http://partner.example#x", "http://partner.example\\x"]) {
    assert.equal(checkHttpUrl(url), undefined, url);
  }
});

test("a rendered value cannot move a fixed-origin template to another host", () => {
  const t = compileTemplate("http://partner.example/{p}?q={q}");
  const url = new URL(renderTemplate(t, { p: "@evil.example/", q: "//evil.example" }, ""));
  assert.equal(url.host, "partner.example");
  assert.equal(url.pathname, "/%40evil.example%2F");
});
