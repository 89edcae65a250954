using System.Diagnostics;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Console;

/// <summary>ShellSession against the real test guest (busybox ash with line editing on ttyS0).</summary>
public sealed class ShellSessionTests : IClassFixture<BootedGuestFixture>
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private readonly BootedGuestFixture _fixture;
    private readonly ITestOutputHelper _output;

    public ShellSessionTests(BootedGuestFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    private ShellSession Shell => _fixture.Guest.Shell;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<ExecResult> Exec(string command)
    {
        var result = await Shell.ExecAsync(command, s_timeout, Ct);
        _output.WriteLine($"{ConsoleException.Shorten(command, 80)} -> {result.ExitCode} in {result.Duration.TotalMilliseconds:0} ms");
        return result;
    }

    [Fact]
    public async Task True_exits_0_with_empty_output()
    {
        var result = await Exec("true");

        result.ExitCode.Should().Be(0);
        result.Output.Should().BeEmpty();
    }

    [Fact]
    public async Task False_exits_1()
    {
        var result = await Exec("false");

        result.ExitCode.Should().Be(1);
        result.Output.Should().BeEmpty();
    }

    [Fact]
    public async Task Echo_returns_its_text()
    {
        var result = await Exec("echo hello");

        result.ExitCode.Should().Be(0);
        result.Output.Should().Be("hello");
    }

    [Fact]
    public async Task An_exit_status_is_passed_through()
    {
        (await Exec("sh -c 'exit 42'")).ExitCode.Should().Be(42);
        (await Exec("sh -c 'exit 255'")).ExitCode.Should().Be(255);
    }

    [Fact]
    public async Task Output_without_a_final_newline_and_inner_empty_lines_are_kept()
    {
        (await Exec("printf 'a\\n\\nb'")).Output.Should().Be("a\n\nb");
        (await Exec("printf 'no newline'")).Output.Should().Be("no newline");
    }

    [Fact]
    public async Task Ten_thousand_lines_come_back_exactly_and_fast()
    {
        var stopwatch = Stopwatch.StartNew();
        var result = await Exec("seq 1 10000");
        stopwatch.Stop();

        result.ExitCode.Should().Be(0);
        result.Lines.Should().Equal(Enumerable.Range(1, 10000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Stderr_is_part_of_the_output()
    {
        var result = await Exec("echo out; echo err >&2; ls /does-not-exist");

        result.ExitCode.Should().NotBe(0);
        result.Lines.Should().HaveCount(3);
        result.Lines[0].Should().Be("out");
        result.Lines[1].Should().Be("err");
        result.Lines[2].Should().Contain("/does-not-exist");
    }

    [Fact]
    public async Task A_kernel_message_printed_during_the_command_is_not_part_of_the_output()
    {
        var before = _fixture.Guest.Console.Transcript.TextLength;

        var result = await Exec("echo before; echo '<3>qtk fake kernel msg' > /dev/kmsg; echo after");

        result.ExitCode.Should().Be(0);
        result.Output.Should().Be("before\nafter");
        // The kernel really printed it on the console (loglevel 3 passes "quiet"): the filter did the work.
        _fixture.Guest.Console.Transcript.GetText(before).Should().MatchRegex(@"\[ *\d+\.\d{6}\] qtk fake kernel msg");
    }

    [Fact]
    public async Task Kernel_messages_and_console_noise_in_the_middle_of_long_output_are_removed()
    {
        var before = _fixture.Guest.Console.Transcript.TextLength;

        // Kernel messages are written straight to the UART while seq's output is still queued in the tty, so they can
        // land in the middle of a line; a plain write to /dev/console in kernel format comes through the tty.
        var result = await Exec(
            "( for i in 1 2 3 4 5; do echo \"<3>qtk noise $i\" > /dev/kmsg; done; echo '[   12.345678] qtk console noise' > /dev/console ) & " +
            "seq 1 3000; wait");

        result.ExitCode.Should().Be(0);
        result.Lines.Should().Equal(Enumerable.Range(1, 3000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        _fixture.Guest.Console.Transcript.GetText(before).Should().Contain("qtk noise 5");
    }

    [Fact]
    public async Task A_background_job_ending_between_commands_leaves_the_shell_working()
    {
        (await Exec("(sleep 0.3; echo bg-done) &")).ExitCode.Should().Be(0);
        await Task.Delay(TimeSpan.FromSeconds(1), Ct);

        var result = await Exec("echo still here");

        result.Output.Should().Be("still here");
    }

    [Fact]
    public async Task A_command_longer_than_the_line_editing_limit_works()
    {
        var word = string.Concat(Enumerable.Range(0, 500).Select(i => $"w{i:000}"));
        var command = $"echo {word} | wc -c; echo {word[..100]}";
        command.Length.Should().BeGreaterThan(2000);

        var result = await Exec(command);

        result.ExitCode.Should().Be(0);
        result.Lines.Should().Equal((word.Length + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), word[..100]);
    }

    [Fact]
    public async Task Quotes_tabs_backslashes_newlines_and_non_ascii_text_reach_the_shell_unchanged()
    {
        var text = "it's \"quoted\" \\ back\tslash $HOME `x` \u00fc\u20ac";

        var result = await Exec($"cat <<'EOF'\n{text}\nEOF");

        result.ExitCode.Should().Be(0);
        result.Output.Should().Be(text);
    }

    [Fact]
    public async Task Commands_run_in_the_shell_itself_so_state_persists()
    {
        await Exec("cd /proc; QTK_TEST_VAR=kept");

        var result = await Exec("pwd; echo $QTK_TEST_VAR; cd /root");

        result.Lines.Should().Equal("/proc", "kept");
    }

    [Fact]
    public async Task A_syntax_error_returns_a_status_instead_of_hanging()
    {
        var result = await Exec("if then fi");

        result.ExitCode.Should().Be(2);
        result.Output.Should().Contain("syntax error");
        (await Exec("echo ok")).Output.Should().Be("ok");
    }

    [Fact]
    public async Task A_command_cannot_read_the_console_input()
    {
        var result = await Exec("cat; echo done");

        result.Output.Should().Be("done");
    }

    [Fact]
    public async Task A_timeout_reports_the_command_and_the_console_tail_and_the_session_goes_on()
    {
        var stopwatch = Stopwatch.StartNew();
        var act = () => Shell.ExecAsync("echo started-sleeping; sleep 30", TimeSpan.FromSeconds(3), Ct);

        var error = (await act.Should().ThrowAsync<ConsoleTimeoutException>()).Which;
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15));
        error.Message.Should().Contain("sleep 30").And.Contain("3 s").And.Contain("started-sleeping");
        error.Timeout.Should().Be(TimeSpan.FromSeconds(3));

        // Ctrl-C interrupted the sleep: the next command does not wait 30 s.
        var next = await Shell.ExecAsync("echo next", TimeSpan.FromSeconds(20), Ct);
        next.Output.Should().Be("next");
    }

    [Fact]
    public async Task After_a_command_WaitFor_looks_only_at_what_came_after_it()
    {
        var console = _fixture.Guest.Console;

        await Exec("echo qtk-said-before; (sleep 1; echo qtk-said-later) &");

        await FluentActions.Awaiting(() => console.WaitForAsync("qtk-said-before", TimeSpan.FromSeconds(2), Ct)).Should().ThrowAsync<ConsoleTimeoutException>();
        var later = await console.WaitForAsync("qtk-said-later", TimeSpan.FromSeconds(60), Ct);
        console.Transcript.Text[later.Index..].Should().StartWith("qtk-said-later");
        (await Exec("wait; echo ok")).Output.Should().Be("ok");
    }

    [Fact]
    public async Task Concurrent_calls_run_one_after_the_other()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => Shell.ExecAsync($"echo n{i}", s_timeout, Ct)));

        results.Select(r => r.Output).Should().Equal("n0", "n1", "n2", "n3", "n4");
    }

    [Fact]
    public async Task Resent_synchronizations_use_no_ids_of_later_commands()
    {
        // A shell busy for 3 s misses the first attempts (sent at 0 s and 1 s) and answers them all afterwards. The
        // ids later commands get must not depend on how many attempts that took: a replay, slower or faster than its
        // recording, must expect the recording's markers.
        var ids = new List<string>();
        using var session = new ShellSession(_fixture.Guest.Console)
        {
            IdGenerator = () =>
            {
                var id = $"resync{ids.Count + 1}";
                ids.Add(id);
                return id;
            },
        };
        await _fixture.Guest.Console.SendAsync("sleep 3\n", Ct);

        (await session.ExecAsync("echo after-resync", s_timeout, Ct)).Output.Should().Be("after-resync");
        (await session.ExecAsync("echo next", s_timeout, Ct)).Output.Should().Be("next");

        ids.Should().Equal(["resync1", "resync2", "resync3"], "one id for the synchronization, whatever its attempts, then one per command");
        _fixture.Guest.Console.Transcript.Text.Should().Contain("QTK-Sresync1r2", "the shell was busy during the first attempt, so a second one was sent");
    }

    [Fact]
    public async Task Timings()
    {
        await Exec("true");
        var trueRuns = new List<TimeSpan>();
        for (var i = 0; i < 5; i++)
        {
            trueRuns.Add((await Exec("true")).Duration);
        }

        var seq = await Exec("seq 1 10000");
        _output.WriteLine($"true: {string.Join(", ", trueRuns.Select(t => $"{t.TotalMilliseconds:0} ms"))}; seq 1 10000: {seq.Duration.TotalMilliseconds:0} ms; boot: {_fixture.Guest.BootTime.TotalSeconds:0.0} s");
        trueRuns.Min().Should().BeLessThan(TimeSpan.FromSeconds(2));
    }
}
