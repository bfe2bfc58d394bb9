// SPDX-License-Identifier: MIT
/*
 * The flame graph's viewer: zoom, search and the details line. tracer/output/flamegraph.c
 * embeds this file in every SVG, after a line that sets WIDTH, XPAD and CHAR_WIDTH (the
 * layout's). It keeps each frame's original geometry, read from its rect, so zooming is a
 * linear map of x and "Reset Zoom" restores it exactly. Ancestors of a zoomed frame are drawn
 * full width and dimmed; frames outside it are hidden.
 */
/* global WIDTH, XPAD, CHAR_WIDTH */
(function () {
'use strict';
var EPS = 0.001, HIGHLIGHT = 'rgb(210,40,230)';
var span = WIDTH - 2 * XPAD;
var framesEl = document.getElementById('frames');
var details = document.getElementById('details');
var matched = document.getElementById('matched');
var unzoomButton = document.getElementById('unzoom');
var searchButton = document.getElementById('search');
var frames = [], root = null, searching = null;

Array.prototype.forEach.call(framesEl.getElementsByTagName('g'), function (g) {
	var rect = g.getElementsByTagName('rect')[0];
	var tip = g.getElementsByTagName('title')[0].textContent;
	var fr = {
		g: g, rect: rect, text: g.getElementsByTagName('text')[0], tip: tip,
		name: tip.slice(0, tip.lastIndexOf(' (')), fill: rect.getAttribute('fill'),
		x: +rect.getAttribute('x'), w: +rect.getAttribute('width'),
		y: +rect.getAttribute('y')
	};
	g.frameIndex = frames.length;
	frames.push(fr);
	if (!root || fr.y > root.y)
		root = fr;
});

function frameOf(el) {
	for (; el && el !== framesEl; el = el.parentNode)
		if (el.frameIndex !== undefined)
			return frames[el.frameIndex];
	return null;
}

function label(fr, w) {
	var fit = Math.floor((w - 6) / CHAR_WIDTH);
	if (fit < 3)
		return '';
	return fr.name.length <= fit ? fr.name : fr.name.slice(0, fit - 2) + '..';
}

function place(fr, x, w, shown, dimmed) {
	fr.g.style.display = shown ? '' : 'none';
	if (dimmed)
		fr.g.classList.add('parent');
	else
		fr.g.classList.remove('parent');
	if (!shown)
		return;
	fr.rect.setAttribute('x', x.toFixed(2));
	fr.rect.setAttribute('width', w.toFixed(2));
	fr.text.setAttribute('x', (x + 3).toFixed(2));
	fr.text.textContent = label(fr, w);
}

function unzoom() {
	frames.forEach(function (fr) { place(fr, fr.x, fr.w, true, false); });
	unzoomButton.classList.add('hidden');
}

function zoom(target) {
	var scale = span / target.w, left = target.x, right = target.x + target.w;
	if (target === root)
		return unzoom();
	frames.forEach(function (fr) {
		var inside = fr.x >= left - EPS && fr.x + fr.w <= right + EPS;
		var covers = fr.x <= left + EPS && fr.x + fr.w >= right - EPS;
		if (fr.y <= target.y && inside)
			place(fr, XPAD + (fr.x - left) * scale, fr.w * scale, true, false);
		else if (fr.y > target.y && covers)
			place(fr, XPAD, span, true, true);
		else
			place(fr, 0, 0, false, false);
	});
	unzoomButton.classList.remove('hidden');
}

/* Share of the total covered by matching frames; nested matches count once. */
function coverage(spans) {
	var covered = 0, end = -Infinity;
	spans.sort(function (a, b) { return a[0] - b[0]; });
	spans.forEach(function (s) {
		if (s[1] <= end)
			return;
		covered += s[1] - Math.max(s[0], end);
		end = s[1];
	});
	return 100 * covered / root.w;
}

function search(re) {
	var spans = [];
	searching = re;
	frames.forEach(function (fr) {
		var hit = re !== null && re.test(fr.name);
		fr.rect.setAttribute('fill', hit ? HIGHLIGHT : fr.fill);
		if (hit)
			spans.push([fr.x, fr.x + fr.w]);
	});
	matched.textContent = re ? 'Matched: ' + coverage(spans).toFixed(1) + '%' : '';
	searchButton.textContent = re ? 'Reset Search' : 'Search';
}

function askSearch() {
	var term = window.prompt('Search frames (regular expression):',
		searching ? searching.source : '');
	if (!term)
		return;
	try {
		search(new RegExp(term));
	} catch (e) {
		window.alert('Not a valid regular expression: ' + e.message);
	}
}

framesEl.addEventListener('click', function (e) {
	var fr = frameOf(e.target);
	if (fr)
		zoom(fr);
});
framesEl.addEventListener('mouseover', function (e) {
	var fr = frameOf(e.target);
	details.textContent = fr ? 'Frame: ' + fr.tip : ' ';
});
framesEl.addEventListener('mouseout', function () { details.textContent = ' '; });
unzoomButton.addEventListener('click', unzoom);
searchButton.addEventListener('click', function () {
	if (searching)
		search(null);
	else
		askSearch();
});
document.addEventListener('keydown', function (e) {
	var find = (e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F');
	if (find || e.key === 'F3') {
		e.preventDefault();
		askSearch();
	}
});
})();
