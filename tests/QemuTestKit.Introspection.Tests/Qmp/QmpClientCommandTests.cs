using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Qmp;
using static QemuTestKit.Introspection.Tests.Qmp.QmpTestSupport;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>Commands against a scripted peer: answers, errors, broken answers, silence, cancellation.</summary>
public sealed class QmpClientCommandTests
{
    [Fact]
    public async Task A_command_gets_its_return_value_and_sends_its_arguments()
    {
        JsonObject? seenArguments = null;
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var command = (await c.ReadCommandAsync(ct)).Expect("qom-list");
            seenArguments = command.Arguments;
            await c.ReplyAsync(command, new JsonArray(new JsonObject { ["name"] = "type", ["type"] = "string" }), ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var result = await client.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/machine" }, cancellationToken: Ct).Bounded();

        result.Should().BeOfType<JsonArray>().Which.Should().HaveCount(1);
        result![0]!["name"]!.GetValue<string>().Should().Be("type");
        seenArguments!["path"]!.GetValue<string>().Should().Be("/machine");
    }

    [Fact]
    public async Task An_error_reply_is_a_QmpErrorException_with_class_and_description_and_the_client_stays_usable()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var bad = (await c.ReadCommandAsync(ct)).Expect("device_add");
            await c.ErrorAsync(bad, "GenericError", "Device 'nope' not found", ct);
            var good = (await c.ReadCommandAsync(ct)).Expect("query-status");
            await c.ReplyAsync(good, new JsonObject { ["running"] = false }, ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var e = await ThrowsPromptlyAsync<QmpErrorException>(
            () => client.ExecuteAsync("device_add", new JsonObject { ["driver"] = "nope" }, cancellationToken: Ct));

        e.ErrorClass.Should().Be("GenericError");
        e.Description.Should().Be("Device 'nope' not found");
        e.Command.Should().Be("device_add");
        client.IsConnected.Should().BeTrue();
        var status = await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded();
        status!["running"]!.GetValue<bool>().Should().BeFalse();
    }

    [Fact]
    public async Task A_truncated_JSON_reply_is_a_protocol_error()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
            await c.SendRawAsync("{\"return\": {\"a\"\n", ct);
            await QmpPeerConnection.StallAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var e = await ThrowsPromptlyAsync<QmpProtocolException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));

        e.Message.Should().Contain("malformed JSON");
        await client.Closed.Bounded();
        client.IsConnected.Should().BeFalse();
        // Once broken, the client says so at once instead of sending into a stream it can no longer read.
        await ThrowsPromptlyAsync<QmpProtocolException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));
    }

    [Fact]
    public async Task A_peer_that_closes_in_the_middle_of_a_reply_is_a_disconnect_that_says_the_reply_was_truncated()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
            await c.SendRawAsync("{\"return\": {\"status\": \"runn", ct);
            // Returning closes the connection: half an object, no line end, then EOF.
        });
        await using var client = await ConnectAsync(peer);

        var e = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));

        e.Message.Should().Contain("in the middle of a message");
    }

    [Fact]
    public async Task A_peer_that_closes_after_negotiation_without_answering_is_a_disconnect()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var e = await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));

        e.Peer.Should().BeNull();
        await client.Closed.Bounded();
        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));
    }

    [Fact]
    public async Task A_silent_peer_times_out_and_a_late_answer_is_ignored_while_the_next_command_works()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var slow = (await c.ReadCommandAsync(ct)).Expect("query-slow");
            var next = (await c.ReadCommandAsync(ct)).Expect("query-status");
            // The answer to the command the client gave up on arrives first; it must be dropped, not fail the connection.
            await c.ReplyAsync(slow, new JsonObject { ["late"] = true }, ct);
            await c.ReplyAsync(next, new JsonObject { ["status"] = "paused" }, ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);
        var timeout = TimeSpan.FromSeconds(1);

        var e = await TimesOutAsync(() => client.ExecuteAsync("query-slow", timeout: timeout, cancellationToken: Ct), timeout);

        e.Message.Should().Contain("query-slow");
        client.IsConnected.Should().BeTrue();
        var status = await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded();
        status!["status"]!.GetValue<string>().Should().Be("paused");
        client.IsConnected.Should().BeTrue();
    }

    [Fact]
    public async Task The_default_command_timeout_applies_when_none_is_given()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await QmpPeerConnection.StallAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        await TimesOutAsync(() => client.ExecuteAsync("query-status", cancellationToken: Ct), ClientTimeout);
    }

    [Fact]
    public async Task Commands_answered_out_of_order_each_get_their_own_answer()
    {
        const int count = 5;
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var received = new List<PeerCommand>();
            for (var i = 0; i < count; i++)
            {
                received.Add(await c.ReadCommandAsync(ct));
            }

            received.Reverse();
            foreach (var command in received)
            {
                await c.ReplyAsync(command, new JsonObject { ["echo"] = command.Arguments!["n"]!.DeepClone() }, ct);
            }

            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var calls = Enumerable.Range(0, count)
            .Select(n => client.ExecuteAsync("echo", new JsonObject { ["n"] = n }, cancellationToken: Ct))
            .ToArray();
        var answers = await Task.WhenAll(calls).Bounded();

        answers.Select(a => a!["echo"]!.GetValue<int>()).Should().Equal(Enumerable.Range(0, count));
    }

    [Fact]
    public async Task An_answer_to_an_id_that_was_never_sent_is_a_protocol_error_for_pending_callers()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
            await c.SendLineAsync("""{"return": {}, "id": 4242}""", ct);
            await QmpPeerConnection.StallAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var e = await ThrowsPromptlyAsync<QmpProtocolException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));

        e.Message.Should().Contain("4242");
    }

    [Theory]
    [InlineData("""{"return": {}}""")]
    [InlineData("""{"id": 2}""")]
    [InlineData("""{"error": "boom", "id": 2}""")]
    [InlineData("""{"error": ["GenericError"], "id": 2}""")]
    [InlineData("""{"event": 7}""")]
    [InlineData("""{"event": "STOP", "timestamp": {"seconds": "soon"}}""")]
    [InlineData("""{"event": "STOP", "data": 1}""")]
    [InlineData("\"just a string\"")]
    [InlineData("""{"return": {}, "id": 2, "id": 3}""")]
    public async Task A_malformed_message_after_negotiation_is_a_protocol_error_not_a_hang(string line)
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
            await c.SendLineAsync(line, ct);
            await QmpPeerConnection.StallAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        await ThrowsPromptlyAsync<QmpProtocolException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));
    }

    [Fact]
    public async Task Blank_lines_between_messages_are_ignored()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var command = await c.ReadCommandAsync(ct);
            await c.SendRawAsync("\n\r\n", ct);
            await c.SendRawAsync("{\"return\": {\"ok\": 1}, \"id\": " + command.Id!.ToJsonString() + "}\r\n", ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        var result = await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded();

        result!["ok"]!.GetValue<int>().Should().Be(1);
    }

    [Fact]
    public async Task A_typed_command_with_an_answer_of_the_wrong_shape_is_a_protocol_error()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var command = (await c.ReadCommandAsync(ct)).Expect("query-version");
            await c.ReplyAsync(command, new JsonObject { ["qemu"] = "seven" }, ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);

        await ThrowsPromptlyAsync<QmpProtocolException>(
            () => client.ExecuteAsync("query-version", null, QmpWireContext.Default.QmpVersionReply, cancellationToken: Ct));
        client.IsConnected.Should().BeTrue();
    }

    [Fact]
    public async Task An_already_cancelled_token_throws_OperationCanceledException_at_once()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var act = () => client.ExecuteAsync("query-status", cancellationToken: cancelled.Token);

        await ThrowsWithinAsync<OperationCanceledException>(act, TimeSpan.FromMilliseconds(500), exactly: false);
        client.IsConnected.Should().BeTrue();
    }

    [Fact]
    public async Task Cancelling_a_waiting_command_throws_OperationCanceledException_promptly_and_its_late_answer_is_ignored()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var abandoned = (await c.ReadCommandAsync(ct)).Expect("query-slow");
            var next = (await c.ReadCommandAsync(ct)).Expect("query-status");
            await c.ReplyAsync(abandoned, new JsonObject(), ct);
            await c.ReplyAsync(next, new JsonObject { ["status"] = "paused" }, ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        // Not a QmpTimeoutException: the caller cancelled, the command did not time out.
        await ThrowsWithinAsync<OperationCanceledException>(
            () => client.ExecuteAsync("query-slow", timeout: TimeSpan.FromSeconds(5), cancellationToken: cancel.Token),
            TimeSpan.FromSeconds(1.5),
            exactly: false);

        var status = await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded();
        status!["status"]!.GetValue<string>().Should().Be("paused");
    }

    [Fact]
    public async Task Disposing_the_client_fails_pending_commands_with_a_disconnect()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.WaitForClientCloseAsync(ct);
        });
        var client = await ConnectAsync(peer);
        var pending = client.ExecuteAsync("query-status", timeout: TimeSpan.FromSeconds(5), cancellationToken: Ct);

        await client.DisposeAsync().AsTask().Bounded();

        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => pending);
        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));
        client.IsConnected.Should().BeFalse();
    }

    [Fact]
    public async Task A_command_that_times_out_while_still_being_written_does_not_corrupt_the_stream()
    {
        var clientGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writeStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await c.WaitForDataAsync(ct);
            writeStarted.SetResult();
            // Read no further until the client has given up on the big command, so its write stalls part way.
            await clientGaveUp.Task.WaitAsync(ct);
            var big = (await c.ReadCommandAsync(ct)).Expect("big");
            var next = (await c.ReadCommandAsync(ct)).Expect("query-status");
            await c.ReplyAsync(big, new JsonObject(), ct);
            await c.ReplyAsync(next, new JsonObject { ["status"] = "paused" }, ct);
            await c.WaitForClientCloseAsync(ct);
        });
        await using var client = await ConnectAsync(peer);
        // Far more than a Unix socket buffers, small enough to serialize well within the timeout.
        var blob = new string('x', 4 * 1024 * 1024);
        var timeout = TimeSpan.FromSeconds(1.5);

        await TimesOutAsync(() => client.ExecuteAsync("big", new JsonObject { ["blob"] = blob }, timeout, Ct), timeout);
        writeStarted.Task.IsCompleted.Should().BeTrue("the big command must have started going out before it timed out, or this test proves nothing");
        clientGaveUp.SetResult();

        var status = await client.ExecuteAsync("query-status", cancellationToken: Ct).Bounded();
        status!["status"]!.GetValue<string>().Should().Be("paused");
    }

    [Fact]
    public async Task Disposing_the_client_while_a_write_is_stalled_fails_that_command_with_a_disconnect()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            await QmpPeerConnection.StallAsync(ct);
        });
        var client = await ConnectAsync(peer);
        var blob = new string('x', 16 * 1024 * 1024);
        var stalled = client.ExecuteAsync("big", new JsonObject { ["blob"] = blob }, TimeSpan.FromSeconds(5), Ct);
        await Task.Delay(200, Ct);

        await client.DisposeAsync().AsTask().Bounded();

        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => stalled);
    }
}
