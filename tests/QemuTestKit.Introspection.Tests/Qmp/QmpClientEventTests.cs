using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Qmp;
using static QemuTestKit.Introspection.Tests.Qmp.QmpTestSupport;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>Events: filtering listeners, history for late waiters, sequence cut-offs, and waits ending on disconnect.</summary>
public sealed class QmpClientEventTests
{
    private static readonly TimeSpan ShortWait = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// A peer that, for each <c>emit</c> command, sends the events named in its arguments and then answers; for
    /// <c>hang-up</c> it closes the connection without answering. Events sent before an answer are dispatched before
    /// the caller sees the answer, so a test knows they have arrived once <c>emit</c> returns.
    /// </summary>
    private static ScriptedQmpPeer StartEmitter() => ScriptedQmpPeer.StartUnix(async (c, ct) =>
    {
        await c.HandshakeAsync(ct);
        while (true)
        {
            var command = await c.ReadCommandOrNullAsync(ct);
            if (command is null || command.Execute == "hang-up")
            {
                return;
            }

            command.Expect("emit");
            foreach (var e in command.Arguments!["events"]!.AsArray())
            {
                await c.SendEventAsync(e!["name"]!.GetValue<string>(), e["data"] as JsonObject, ct);
            }

            await c.ReplyAsync(command, new JsonObject(), ct);
        }
    });

    private static async Task EmitAsync(QmpClient client, params string[] names)
    {
        var events = new JsonArray();
        for (var i = 0; i < names.Length; i++)
        {
            events.Add(new JsonObject { ["name"] = names[i], ["data"] = new JsonObject { ["n"] = i } });
        }

        await client.ExecuteAsync("emit", new JsonObject { ["events"] = events }, cancellationToken: Ct).Bounded();
    }

    [Fact]
    public async Task A_listener_with_a_name_filter_gets_only_its_events_in_order()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        using var stops = client.Listen("STOP");
        using var everything = client.Listen();

        await EmitAsync(client, "RESUME", "STOP", "RESUME", "STOP", "SHUTDOWN");

        var first = await stops.ReadAsync(ShortWait, Ct);
        var second = await stops.ReadAsync(ShortWait, Ct);
        first.Name.Should().Be("STOP");
        first.Data!["n"]!.GetValue<int>().Should().Be(1);
        first.Timestamp.Should().Be(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddMilliseconds(250));
        second.Data!["n"]!.GetValue<int>().Should().Be(3);
        second.Sequence.Should().BeGreaterThan(first.Sequence);
        await TimesOutAsync(() => stops.ReadAsync(ShortWait, Ct), ShortWait);

        var all = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            all.Add((await everything.ReadAsync(ShortWait, Ct)).Name);
        }

        all.Should().Equal("RESUME", "STOP", "RESUME", "STOP", "SHUTDOWN");
    }

    [Fact]
    public async Task A_listener_opened_after_an_event_does_not_see_it_unless_it_asks_for_history()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);

        await EmitAsync(client, "STOP");
        using var plain = client.Listen("STOP");
        using var withHistory = client.Listen(e => e.Name == "STOP", includeHistory: true);

        (await withHistory.ReadAsync(ShortWait, Ct)).Name.Should().Be("STOP");
        await TimesOutAsync(() => plain.ReadAsync(ShortWait, Ct), ShortWait);
        client.RecentEvents.Select(e => e.Name).Should().Equal("STOP");
    }

    [Fact]
    public async Task WaitForEventAsync_after_the_event_arrived_sees_it_from_history_but_not_after_a_later_sequence()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);

        await EmitAsync(client, "STOP");
        var mark = client.LastEventSequence;

        var late = await client.WaitForEventAsync("STOP", ShortWait, cancellationToken: Ct).Bounded();
        late.Name.Should().Be("STOP");
        late.Sequence.Should().Be(mark);

        var e = await TimesOutAsync(() => client.WaitForEventAsync("STOP", ShortWait, afterSequence: mark, cancellationToken: Ct), ShortWait);
        e.Message.Should().Contain("STOP");

        var waiting = client.WaitForEventAsync("STOP", TimeSpan.FromSeconds(5), afterSequence: mark, cancellationToken: Ct);
        await EmitAsync(client, "RESUME", "STOP");
        var next = await waiting.Bounded();
        next.Sequence.Should().BeGreaterThan(mark);
        next.Data!["n"]!.GetValue<int>().Should().Be(1);
    }

    [Fact]
    public async Task WaitForEventAsync_applies_its_match_predicate()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        var waiting = client.WaitForEventAsync("STOP", TimeSpan.FromSeconds(5), match: e => e.Data?["n"]?.GetValue<int>() == 2, cancellationToken: Ct);

        await EmitAsync(client, "STOP", "STOP", "STOP");

        (await waiting.Bounded()).Data!["n"]!.GetValue<int>().Should().Be(2);
    }

    [Fact]
    public async Task A_wait_in_progress_fails_with_a_disconnect_when_the_peer_closes()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        var waiting = client.WaitForEventAsync("SHUTDOWN", TimeSpan.FromSeconds(5), afterSequence: client.LastEventSequence, cancellationToken: Ct);

        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("hang-up", cancellationToken: Ct));

        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => waiting);
    }

    [Fact]
    public async Task A_wait_started_after_the_peer_closed_fails_with_a_disconnect_at_once()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("hang-up", cancellationToken: Ct));
        await client.Closed.Bounded();

        await ThrowsPromptlyAsync<QmpDisconnectedException>(
            () => client.WaitForEventAsync("SHUTDOWN", TimeSpan.FromSeconds(5), cancellationToken: Ct));
        using var listener = client.Listen("SHUTDOWN");
        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => listener.ReadAsync(TimeSpan.FromSeconds(5), Ct));
    }

    [Fact]
    public async Task Events_that_arrived_before_the_peer_closed_are_still_delivered_to_their_listener()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        using var listener = client.Listen("SHUTDOWN");

        await EmitAsync(client, "SHUTDOWN");
        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => client.ExecuteAsync("hang-up", cancellationToken: Ct));

        (await listener.ReadAsync(ShortWait, Ct)).Name.Should().Be("SHUTDOWN");
        await ThrowsPromptlyAsync<QmpDisconnectedException>(() => listener.ReadAsync(TimeSpan.FromSeconds(5), Ct));
        // A late waiter still finds it in the history, even though the connection is gone.
        (await client.WaitForEventAsync("SHUTDOWN", ShortWait, cancellationToken: Ct).Bounded()).Name.Should().Be("SHUTDOWN");
    }

    [Fact]
    public async Task A_match_predicate_that_throws_fails_that_wait_only()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        var broken = client.WaitForEventAsync("STOP", TimeSpan.FromSeconds(5), match: _ => throw new FormatException("bad predicate"), cancellationToken: Ct);
        var healthy = client.WaitForEventAsync("STOP", TimeSpan.FromSeconds(5), cancellationToken: Ct);

        await EmitAsync(client, "STOP");

        await ThrowsPromptlyAsync<FormatException>(() => broken);
        (await healthy.Bounded()).Name.Should().Be("STOP");
        client.IsConnected.Should().BeTrue();
        await EmitAsync(client, "RESUME");
    }

    [Fact]
    public async Task Cancelling_an_event_wait_throws_OperationCanceledException_not_a_timeout()
    {
        await using var peer = StartEmitter();
        await using var client = await ConnectAsync(peer);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await ThrowsWithinAsync<OperationCanceledException>(
            () => client.WaitForEventAsync("STOP", TimeSpan.FromSeconds(5), cancellationToken: cancel.Token),
            TimeSpan.FromSeconds(1.5),
            exactly: false);
    }
}
