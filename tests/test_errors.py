"""`error_chain`: an error and its causes, each once, even when the chain loops."""

from __future__ import annotations

from pipelines.errors import error_chain


def test_cause_wins_over_context_and_each_error_comes_once() -> None:
    refused = ValueError("refused")
    wrapper = RuntimeError("extract failed")
    step = RuntimeError("resource failed")
    handled = KeyError("handled before")
    wrapper.__cause__ = step
    wrapper.__context__ = handled
    step.__cause__ = refused
    refused.__context__ = wrapper  # raised again inside the handler of its own wrapper
    assert list(error_chain(wrapper)) == [wrapper, step, refused]
    assert list(error_chain(refused)) == [refused, wrapper, step]


def test_context_is_followed_without_a_cause() -> None:
    first = OSError("disk")
    second = RuntimeError("while handling")
    second.__context__ = first
    assert list(error_chain(second)) == [second, first]
