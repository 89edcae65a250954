using QemuTestKit.Introspection.Qmp;
using static QemuTestKit.Introspection.Tests.Qmp.QmpTestSupport;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>Runs alone, so the process-wide allocation count it reads is this test's own.</summary>
[CollectionDefinition(nameof(QmpMemoryMeasurement), DisableParallelization = true)]
public sealed class QmpMemoryMeasurement;

/// <summary>A peer that streams an endless line must not exhaust memory or time.</summary>
[Collection(nameof(QmpMemoryMeasurement))]
public sealed class QmpClientOversizeTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task A_64_MiB_line_without_a_line_end_is_a_protocol_error_with_bounded_memory_and_time()
    {
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'x');
        "{\"return\": \""u8.CopyTo(chunk);
        QmpPeerConnection? connection = null;
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            connection = c;
            await c.HandshakeAsync(ct);
            await c.ReadCommandAsync(ct);
            for (var sent = 0; sent < 64 * MiB; sent += chunk.Length)
            {
                await c.SendRawAsync(chunk, ct);
                if (sent == 0)
                {
                    Array.Fill(chunk, (byte)'x');
                }
            }

            await QmpPeerConnection.StallAsync(ct);
        });
        // A long command timeout, so a slow machine cannot turn this into a QmpTimeoutException.
        await using var client = await ConnectAsync(peer, FastOptions with { CommandTimeout = TimeSpan.FromSeconds(30) });
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        var e = await ThrowsWithinAsync<QmpProtocolException>(
            () => client.ExecuteAsync("query-qmp-schema", cancellationToken: Ct), TimeSpan.FromSeconds(5));

        e.Message.Should().Contain("32 MiB");
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        // Buffering up to the 32 MiB limit costs about twice that with a growing buffer; the whole 64 MiB line would
        // cost far more. The peer's own chunk is reused, so it adds nothing.
        allocated.Should().BeLessThan(100L * MiB, "the client must stop buffering at its limit");
        await Task.Delay(200, Ct);
        // The client stopped reading at the limit: the rest of the line is stuck in the peer, not in the client.
        connection!.BytesSent.Should().BeLessThan(48L * MiB);
    }

    [Fact]
    public async Task A_line_over_a_small_configured_limit_names_the_limit_in_bytes()
    {
        await using var peer = ScriptedQmpPeer.StartUnix(async (c, ct) =>
        {
            await c.HandshakeAsync(ct);
            var command = await c.ReadCommandAsync(ct);
            await c.SendLineAsync("{\"return\": \"" + new string('y', 5000) + "\", \"id\": " + command.Id!.ToJsonString() + "}", ct);
            await QmpPeerConnection.StallAsync(ct);
        });
        await using var client = await ConnectAsync(peer, FastOptions with { MaxLineBytes = 4096 });

        var e = await ThrowsPromptlyAsync<QmpProtocolException>(() => client.ExecuteAsync("query-status", cancellationToken: Ct));

        e.Message.Should().Contain("4096 bytes");
    }
}
