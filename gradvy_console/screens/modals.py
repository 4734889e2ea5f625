"""Small dialogs: confirm, a number, the simulation parameters, a report's period and date,
quitting with a pool."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("y", "yes", "Yes", show=False),
                Binding("n", "cancel", "No", show=False)]

    def __init__(self, question: str) -> None:
        super().__init__(classes="dialog-screen")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class NumberModal(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, low: int, high: int) -> None:
        super().__init__(classes="dialog-screen")
        self.prompt, self.low, self.high = prompt, low, high

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"{self.prompt} ({self.low}-{self.high}), Enter to apply, Esc cancels")
            yield Input(type="integer", id="number")
            yield Label("", id="error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            value = int(event.value)
        except ValueError:
            value = self.low - 1
        if not self.low <= value <= self.high:
            self.query_one("#error", Label).update(
                f"Enter a whole number from {self.low} to {self.high}.")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SimulateModal(ModalScreen[dict[str, int] | None]):
    """Count, users, days and seed for a simulation."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    FIELDS = (("count", "Events", 1, 10_000_000), ("users", "Users", 1, 1_000_000),
              ("days", "Days of history", 1, 3650), ("seed", "Seed", 0, 2**31 - 1))

    def __init__(self, defaults: dict[str, int]) -> None:
        super().__init__(classes="dialog-screen")
        self.defaults = defaults

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Simulate data - Tab moves, Enter starts, Esc cancels", classes="title")
            for key, label, _low, _high in self.FIELDS:
                with Horizontal(classes="field"):
                    yield Label(f"{label}:", classes="field-label")
                    yield Input(str(self.defaults.get(key, 0)), type="integer", id=key)
            yield Label("", id="error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        values: dict[str, int] = {}
        for key, label, low, high in self.FIELDS:
            text = self.query_one(f"#{key}", Input).value
            try:
                value = int(text)
            except ValueError:
                value = low - 1
            if not low <= value <= high:
                self.query_one("#error", Label).update(
                    f"{label} must be a whole number from {low:,} to {high:,}.")
                self.query_one(f"#{key}", Input).focus()
                return
            values[key] = value
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportModal(ModalScreen[dict[str, str] | None]):
    """A report's period (day, week or month) and a day in it (empty: the last complete
    period)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    PERIODS = ("day", "week", "month")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Generate a report - Tab moves, Enter starts, Esc cancels",
                        classes="title")
            with Horizontal(classes="field"):
                yield Label("Period:", classes="field-label")
                yield Input("day", placeholder="day, week or month", id="period")
            with Horizontal(classes="field"):
                yield Label("A day in it:", classes="field-label")
                yield Input("", placeholder="YYYY-MM-DD; empty: the last complete one",
                            id="date")
            yield Label("", id="error", classes="error")

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from datetime import date

        period = self.query_one("#period", Input).value.strip().lower()
        day = self.query_one("#date", Input).value.strip()
        if period not in self.PERIODS:
            self.query_one("#error", Label).update("The period is day, week or month.")
            self.query_one("#period", Input).focus()
            return
        try:
            if day and date.fromisoformat(day) > date.today():
                raise ValueError
        except ValueError:
            self.query_one("#error", Label).update(
                "The day is YYYY-MM-DD, not in the future (or empty for the last one).")
            self.query_one("#date", Input).focus()
            return
        self.dismiss({"period": period, "date": day})

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitModal(ModalScreen[str | None]):
    """Quit with a pool running: stop it or leave it running (the default is configurable)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("s", "choose('stop')", "Stop pool", show=False),
                Binding("l", "choose('leave')", "Leave running", show=False)]

    def __init__(self, default: str, pool_pid: int) -> None:
        super().__init__(classes="dialog-screen")
        self.default = default
        self.pool_pid = pool_pid

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Quit. The worker pool (pid {self.pool_pid}) is running.")
            with Horizontal(classes="buttons"):
                yield Button("Stop the pool (s)", id="stop", variant="error")
                yield Button("Leave it running (l)", id="leave", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{self.default}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextModal(ModalScreen[str | None]):
    """One line of text (a learner id): Enter gives it, Esc cancels. With `must_equal`, the
    text must be typed exactly as given (confirming something that cannot be undone)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, must_equal: str | None = None,
                 hint: str = "Enter confirms, Esc cancels") -> None:
        super().__init__(classes="dialog-screen")
        self.prompt = prompt
        self.must_equal = must_equal
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt, classes="title")
            yield Label(self.hint, classes="hint")
            yield Input(id="text")
            yield Label("", id="error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#error", Label).update("Type something, or Esc to cancel.")
            return
        if self.must_equal is not None and text != self.must_equal:
            self.query_one("#error", Label).update("That is not the same id; nothing done.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DetailModal(ModalScreen[None]):
    """A read-only text, scrolled with the arrows and page keys (a failed task's traceback and
    arguments). Esc closes."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog detail-dialog"):
            yield Label(f"{self.title_text} - Esc closes", classes="title")
            yield Static(self.body, id="detail-body")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
