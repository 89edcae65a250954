using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Qmp;
using static QemuTestKit.Introspection.Tests.Qmp.QmpTestSupport;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary><see cref="QmpClientOptions.DescribePeerExit"/>: a disconnect says how the peer process ended.</summary>
public sealed class QmpClientPeerExitTests
{
    private static ScriptedQmpPeer StartHangUp() => ScriptedQmpPeer.StartUnix(async (c, ct) =>
    {
        await c.HandshakeAsync(ct);
        while (true)
        {
            var command = await c.ReadCommandOrNullAsync(ct);
            if (command is null || command.Execute == "hang-up")
            {
                return;
            }

            await c.ReplyAsync(command, new JsonObject(), ct);
        }
    });

    [Fact]
    public async Task A_disconnect_carries_the_exit_code_and_stderr_tail_the_callback_returned()
    {
        await using var peer = StartHangUp();
        var calls = 0;
        var options = FastOptions with
        {
            DescribePeerExit = () =>
            {
                Interlocked.Increment(ref calls);
                return Task.FromResult<QmpPeerExit?>(new QmpPeerExit("fake-qemu", 3, "qemu: oops\nqemu: giving up\n"));
            },
        };
        await using var client = await ConnectAsync(peer, options);

        var e = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("hang-up", cancellationToken: Ct));

        e.ExitCode.Should().Be(3);
        e.StderrTail.Should().Be("qemu: oops\nqemu: giving up\n");
        e.Peer!.Description.Should().Be("fake-qemu");
        e.Message.Should().Contain("exit code 3").And.Contain("giving up");
        var later = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));
        later.ExitCode.Should().Be(3);
        calls.Should().Be(1);
    }

    [Fact]
    public async Task A_truncated_reply_at_disconnect_also_carries_the_peer_exit()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
            await c.SendRawAsync("{\"return\": {\"stat", ct);
        });
        var options = FastOptions with
        {
            DescribePeerExit = () => Task.FromResult<QmpPeerExit?>(new QmpPeerExit("fake-qemu", 139, "Segmentation fault")),
        };
        await using var client = await ConnectAsync(peer, options);

        var e = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));

        e.ExitCode.Should().Be(139);
        e.StderrTail.Should().Be("Segmentation fault");
    }

    [Fact]
    public async Task The_callback_is_called_once_even_when_commands_race_the_disconnect()
    {
        await using var peer = StartHangUp();
        var calls = 0;
        var options = FastOptions with
        {
            DescribePeerExit = async () =>
            {
                Interlocked.Increment(ref calls);
                // Like QemuProcess.DescribeExitAsync, which waits a moment for the process to exit.
                await Task.Delay(500);
                return new QmpPeerExit("fake-qemu", 1, "bye");
            },
        };
        await using var client = await ConnectAsync(peer, options);

        var hangUp = client.ExecuteAsync("hang-up", cancellationToken: Ct);
        await Task.Delay(100, Ct);
        // Sent while the client is still learning how the peer ended: the write fails on the closed socket.
        var racing = Enumerable.Range(0, 5).Select(_ => client.ExecuteAsync("query-status", cancellationToken: Ct)).ToArray();

        (await ThrowsPromptlyAsync<QmpDisconnectedException>(() => hangUp)).ExitCode.Should().Be(1);
        foreach (var command in racing)
        {
            (await ThrowsPromptlyAsync<QmpDisconnectedException>(() => command)).ExitCode.Should().Be(1);
        }

        calls.Should().Be(1);
    }

    [Fact]
    public async Task A_failing_callback_does_not_hide_the_disconnect()
    {
        await using var peer = StartHangUp();
        var options = FastOptions with { DescribePeerExit = () => throw new InvalidOperationException("no process") };
        await using var client = await ConnectAsync(peer, options);

        var e = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("hang-up", cancellationToken: Ct));

        e.Peer.Should().BeNull();
    }

    [Fact]
    public async Task The_callback_is_not_consulted_when_the_client_itself_is_disposed()
    {
        await using var peer = StartHangUp();
        var calls = 0;
        var options = FastOptions with
        {
            DescribePeerExit = () =>
            {
                Interlocked.Increment(ref calls);
                return Task.FromResult<QmpPeerExit?>(null);
            },
        };
        var client = await ConnectAsync(peer, options);

        await client.DisposeAsync().AsTask().Bounded();

        calls.Should().Be(0);
    }
}
