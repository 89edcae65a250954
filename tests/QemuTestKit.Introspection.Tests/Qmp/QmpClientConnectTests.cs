using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Qmp;
using static QemuTestKit.Introspection.Tests.Qmp.QmpTestSupport;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>Greeting and negotiation: what the client does with a peer that is not (yet) a QMP server.</summary>
public sealed class QmpClientConnectTests
{
    [Fact]
    public async Task A_well_behaved_peer_negotiates_and_exposes_its_greeting()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.WaitForClientCloseAsync(ct);
        });

        await using var client = await ConnectAsync(peer);

        client.IsConnected.Should().BeTrue();
        client.Greeting.Version.Should().Be("7.2.0");
        client.Greeting.Package.Should().Be("scripted");
        client.Greeting.Capabilities.Should().Equal("oob");
    }

    [Fact]
    public async Task An_event_before_the_greeting_is_kept_and_negotiation_goes_on()
    {
        // QEMU sends events to a connection it accepted before its monitor thread greets it (RESUME at a -loadvm start).
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.SendEventAsync("RESUME", null, ct);
            await c.HandshakeAsync(ct);
            await c.WaitForClientCloseAsync(ct);
        });

        await using var client = await ConnectAsync(peer);

        client.Greeting.Version.Should().Be("7.2.0");
        (await client.WaitForEventAsync("RESUME", TimeSpan.FromSeconds(5), afterSequence: 0, cancellationToken: Ct)).Name.Should().Be("RESUME");
    }

    [Fact]
    public async Task The_peer_socket_lives_in_a_private_directory_that_is_removed_on_dispose()
    {
        string directory;
        await using (var peer = ScriptedQmpPeer.StartUnix((c, ct) => QmpPeerConnection.StallAsync(ct)))
        {
            directory = peer.DirectoryPath!;
            if (!OperatingSystem.IsWindows())
            {
                File.GetUnixFileMode(directory).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            File.Exists(peer.SocketPath!).Should().BeTrue();
        }

        Directory.Exists(directory).Should().BeFalse();
    }

    [Fact]
    public async Task A_garbage_greeting_is_a_protocol_error()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.SendRawAsync("hello world\n", ct);
            await QmpPeerConnection.StallAsync(ct);
        });

        var e = await ThrowsPromptlyAsync<QmpProtocolException>(() => QmpClient.ConnectUnixAsync(peer.SocketPath!, FastOptions, Ct));
        e.Message.Should().Contain("hello world");
    }

    [Theory]
    [InlineData("""{"hello": "world"}""")]
    [InlineData("""[1, 2, 3]""")]
    [InlineData("""{"QMP": {"capabilities": []}}""")]
    [InlineData("""{"QMP": {"version": 7, "capabilities": []}}""")]
    [InlineData("""{"QMP": {"version": {"qemu": {"major": "seven"}}, "capabilities": []}}""")]
    [InlineData("""{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": [1]}}""")]
    [InlineData("""{"return": {}, "id": 1}""")]
    public async Task Json_that_is_not_a_QMP_greeting_is_a_protocol_error(string greeting)
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.SendLineAsync(greeting, ct);
            await QmpPeerConnection.StallAsync(ct);
        });

        await ThrowsPromptlyAsync<QmpProtocolException>(() => QmpClient.ConnectUnixAsync(peer.SocketPath!, FastOptions, Ct));
    }

    [Fact]
    public async Task A_peer_that_never_greets_times_out_with_the_connect_timeout()
    {
        await using var peer = ScriptedQmpPeer.StartUnix((c, ct) => QmpPeerConnection.StallAsync(ct));

        var e = await TimesOutAsync(() => QmpClient.ConnectUnixAsync(peer.SocketPath!, FastOptions, Ct), ClientTimeout);
        e.Message.Should().Contain("greeting");
    }

    [Fact]
    public async Task A_peer_that_greets_but_never_acknowledges_capabilities_times_out()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.SendGreetingAsync(ct);
            await QmpPeerConnection.StallAsync(ct);
        });

        await TimesOutAsync(() => QmpClient.ConnectUnixAsync(peer.SocketPath!, FastOptions, Ct), ClientTimeout);
    }

    [Fact]
    public async Task A_peer_that_closes_before_greeting_is_a_disconnect()
    {
        await using var peer = ScriptedQmpPeer.StartUnix((c, ct) => Task.CompletedTask);

        var e = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => QmpClient.ConnectUnixAsync(peer.SocketPath!, FastOptions, Ct));
        e.Message.Should().Contain("before sending a QMP greeting");
    }

    [Fact]
    public async Task A_peer_that_refuses_capabilities_fails_the_connect_with_its_error()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.SendGreetingAsync(ct);
            var command = await c.ReadCommandAsync(ct);
            await c.ErrorAsync(command, "CommandNotFound", "nope", ct);
            await c.WaitForClientCloseAsync(ct);
        });

        var e = await ThrowsPromptlyAsync<QmpErrorException>(() => QmpClient.ConnectUnixAsync(peer.SocketPath!, FastOptions, Ct));
        e.ErrorClass.Should().Be("CommandNotFound");
    }

    [Fact]
    public async Task Connecting_to_a_missing_socket_is_a_disconnect()
    {
        var directory = Directory.CreateTempSubdirectory("qtk-qmp-");
        try
        {
            await ThrowsPromptlyAsync<QmpDisconnectedException>(
                () => QmpClient.ConnectUnixAsync(Path.Combine(directory.FullName, "absent.sock"), FastOptions, Ct));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task ConnectTcpAsync_speaks_QMP_to_a_listener_on_127_0_0_1()
    {
        await using var peer = ScriptedQmpPeer.StartTcp(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var command = (await c.ReadCommandAsync(ct)).Expect("query-status");
            await c.ReplyAsync(command, new JsonObject { ["status"] = "prelaunch", ["running"] = false }, ct);
            await c.WaitForClientCloseAsync(ct);
        });

        await using var client = await QmpClient.ConnectTcpAsync(peer.Port, FastOptions, Ct).Bounded();
        var status = await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded();

        status!["status"]!.GetValue<string>().Should().Be("prelaunch");
        client.Greeting.Major.Should().Be(7);
    }
}
