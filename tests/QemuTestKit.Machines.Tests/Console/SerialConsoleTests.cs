using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Console;

/// <summary>SerialConsole against a fake peer (a socket client in the test) and against real QEMU.</summary>
public sealed class SerialConsoleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_host_listens_and_keeps_every_byte_the_peer_sends_from_the_first()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        using var peer = await ConnectAsync(console);
        await peer.SendAsync("first bytes\r\n"u8.ToArray(), Ct);

        var match = await console.WaitForAsync(new Regex("first (\\w+)"), TimeSpan.FromSeconds(10), Ct);

        match.Groups[1].Value.Should().Be("bytes");
        console.Transcript.GetBytes().Should().Equal("first bytes\r\n"u8.ToArray());
        File.Exists(console.SocketPath).Should().BeFalse("the socket file goes once QEMU is connected");
    }

    [Fact]
    public async Task WaitFor_starts_after_the_previous_match_unless_told_otherwise()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        using var peer = await ConnectAsync(console);
        await peer.SendAsync("ready 1\nready 2\n"u8.ToArray(), Ct);

        var first = await console.WaitForAsync(new Regex(@"ready (\d)"), TimeSpan.FromSeconds(10), Ct);
        var second = await console.WaitForAsync(new Regex(@"ready (\d)"), TimeSpan.FromSeconds(10), Ct);
        var again = await console.WaitForAsync(new Regex(@"ready (\d)"), TimeSpan.FromSeconds(10), 0, Ct);

        first.Groups[1].Value.Should().Be("1");
        second.Groups[1].Value.Should().Be("2");
        again.Groups[1].Value.Should().Be("1");
    }

    [Fact]
    public async Task A_pattern_arriving_in_small_pieces_later_is_found()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        using var peer = await ConnectAsync(console);

        var wait = console.WaitForAsync("QTK-GUEST-READY", TimeSpan.FromSeconds(30), Ct);
        foreach (var b in Encoding.ASCII.GetBytes(new string('x', 2000) + "\r\nQTK-GUEST-READY\r\n"))
        {
            await peer.SendAsync(new[] { b }, Ct);
        }

        (await wait).Index.Should().Be(2002);
    }

    [Fact]
    public async Task A_timeout_names_the_pattern_and_the_timeout_and_shows_the_console_tail()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        using var peer = await ConnectAsync(console);
        var lines = string.Concat(Enumerable.Range(1, 30).Select(i => $"line {i}\r\n"));
        await peer.SendAsync(Encoding.ASCII.GetBytes(lines + "\u001b[6n# "), Ct);
        await console.WaitForAsync("# ", TimeSpan.FromSeconds(10), Ct);

        var act = () => console.WaitForAsync(new Regex("never-printed"), TimeSpan.FromMilliseconds(500), Ct);

        var error = (await act.Should().ThrowAsync<ConsoleTimeoutException>()).Which;
        error.Message.Should().Contain("never-printed").And.Contain("0.5 s").And.Contain("line 30").And.Contain("line 12")
            .And.NotContain("line 11\n").And.NotContain("\u001b").And.NotContain("\r");
        error.ConsoleTail.Should().EndWith("line 30\n# ");
    }

    [Fact]
    public async Task Cancellation_is_not_reported_as_a_timeout()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        using var peer = await ConnectAsync(console);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(200);

        var act = () => console.WaitForAsync("never", TimeSpan.FromSeconds(30), cancel.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task The_peer_closing_fails_a_pending_wait_at_once()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        var peer = await ConnectAsync(console);
        await peer.SendAsync("last words\r\n"u8.ToArray(), Ct);
        var wait = console.WaitForAsync("never", TimeSpan.FromSeconds(60), Ct);
        await Task.Delay(100, Ct);
        var stopwatch = Stopwatch.StartNew();

        peer.Dispose();

        var error = (await FluentActions.Awaiting(() => wait).Should().ThrowAsync<ConsoleClosedException>()).Which;
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        error.Message.Should().Contain("last words");
        await console.Closed.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        await FluentActions.Awaiting(() => console.SendLineAsync("x", Ct)).Should().ThrowAsync<ConsoleClosedException>();
    }

    [Fact]
    public async Task Sends_reach_the_peer_unchanged()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));
        using var peer = await ConnectAsync(console);

        await console.SendAsync("a\u00fc", Ct);
        await console.SendLineAsync("b", Ct);

        var received = new byte[16];
        var total = 0;
        while (total < 5)
        {
            total += await peer.ReceiveAsync(received.AsMemory(total), Ct);
        }

        received[..total].Should().Equal("a\u00fcb\n"u8.ToArray());
    }

    [Fact]
    public async Task Accept_times_out_clearly_when_nobody_connects()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));

        var act = () => console.AcceptAsync(TimeSpan.FromMilliseconds(300), Ct);

        (await act.Should().ThrowAsync<ConsoleTimeoutException>()).Which.Message.Should().Contain("did not connect").And.Contain("serial0.sock");
    }

    [Fact]
    public async Task Using_the_console_before_accept_is_a_usage_error()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.Listen(run.SerialSocket(0));

        await FluentActions.Awaiting(() => console.SendLineAsync("x", Ct)).Should().ThrowAsync<InvalidOperationException>();
        await FluentActions.Awaiting(() => console.WaitForAsync("x", TimeSpan.FromSeconds(1), Ct)).Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public void A_socket_path_that_is_too_long_fails_clearly()
    {
        var path = "/tmp/" + new string('s', 120) + ".sock";

        var act = () => SerialConsole.Listen(path);

        act.Should().Throw<IOException>().WithMessage("*is 130 bytes long; Linux allows at most 107*");
    }

    [Fact]
    public async Task A_shell_used_while_the_guest_still_boots_answers_and_killing_QEMU_fails_a_pending_wait_within_seconds()
    {
        await using var guest = await BootedGuest.BootAsync(Ct, waitForReady: false);

        // The first command is typed while the kernel boots: the synchronization retries until the shell reads it.
        var result = await guest.Shell.ExecAsync("uname -r", BootedGuest.ReadyTimeout, Ct);
        result.ExitCode.Should().Be(0);
        result.Output.Should().MatchRegex(@"^\d+\.\d+\.\d+");
        guest.Console.Transcript.Chunks[0].Offset.Should().Be(0);
        guest.Console.Transcript.Text.Should().Contain("QTK-GUEST-READY");

        var wait = guest.Console.WaitForAsync(new Regex("never-printed"), TimeSpan.FromSeconds(120), Ct);
        await Task.Delay(200, Ct);
        wait.IsCompleted.Should().BeFalse();
        var stopwatch = Stopwatch.StartNew();

        await guest.Process.KillAsync();

        var error = (await FluentActions.Awaiting(() => wait).Should().ThrowAsync<ConsoleClosedException>()).Which;
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        error.Message.Should().Contain("never-printed").And.Contain(result.Output);
        await FluentActions.Awaiting(() => guest.Shell.ExecAsync("true", TimeSpan.FromSeconds(60), Ct)).Should().ThrowAsync<ConsoleClosedException>();
    }

    private static async Task<Socket> ConnectAsync(SerialConsole console)
    {
        var peer = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var accept = console.AcceptAsync(TimeSpan.FromSeconds(10), Ct);
        await peer.ConnectAsync(new UnixDomainSocketEndPoint(console.SocketPath), Ct);
        await accept;
        return peer;
    }
}
