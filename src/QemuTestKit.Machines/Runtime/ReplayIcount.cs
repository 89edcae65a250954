using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Machines.Runtime;

/// <summary>Reads <c>query-replay</c>: the record/replay mode and the current instruction count.</summary>
public static class ReplayIcount
{
    /// <summary>The current icount, or null when the machine is not recording or replaying.</summary>
    public static async Task<long?> QueryAsync(QmpClient qmp, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        var reply = await qmp.ExecuteAsync("query-replay", cancellationToken: cancellationToken).ConfigureAwait(false);
        return reply?["icount"] is { } icount ? icount.GetValue<long>() : null;
    }

    /// <summary>The record/replay mode: record, play or none (none also once a replay has reached the end of its log).</summary>
    public static async Task<string> ModeAsync(QmpClient qmp, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        var reply = await qmp.ExecuteAsync("query-replay", cancellationToken: cancellationToken).ConfigureAwait(false);
        return reply?["mode"]?.GetValue<string>() ?? "none";
    }
}
