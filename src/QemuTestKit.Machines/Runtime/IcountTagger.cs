using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.Console;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Stamps console chunks with the instruction count of the recording, so a position in the transcript maps to a moment
/// of the run. QEMU does not say at which instruction a byte left the UART; the stamp is the icount <c>query-replay</c>
/// reports just after the chunk arrived (an upper bound, close enough to choose a replay-break point before it).
/// </summary>
internal sealed class IcountTagger : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public IcountTagger(QmpClient qmp, SerialConsole console)
    {
        _loop = Task.Run(() => RunAsync(qmp, console, _stop.Token));
    }

    private static async Task RunAsync(QmpClient qmp, SerialConsole console, CancellationToken ct)
    {
        var tagged = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // One query per burst of output, not per chunk: a 10,000-line command must not flood QMP.
                await Task.Delay(25, ct).ConfigureAwait(false);
                var count = console.Transcript.ChunkCount;
                if (count == tagged)
                {
                    continue;
                }

                if (await ReplayIcount.QueryAsync(qmp, ct).ConfigureAwait(false) is { } icount)
                {
                    for (var i = tagged; i < count; i++)
                    {
                        console.Transcript.SetIcount(i, icount);
                    }
                }

                tagged = count;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or QmpException or ObjectDisposedException)
        {
            // The machine stopped or the recording ended: what was stamped stays stamped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}
