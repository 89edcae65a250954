namespace QemuTestKit.Machines.Replay;

/// <summary>
/// One deadline over a whole replay (start, break, gdb, following, QMP queries to a QEMU that may no longer answer),
/// wherever QEMU runs: a stuck replay ends within its timeout whatever it was waiting for.
/// </summary>
public static class ReplayDeadline
{
    /// <param name="limit">The timeout; null for none.</param>
    /// <param name="stuck">The error to throw once the timeout has passed.</param>
    public static async Task<T> RunAsync<T>(TimeSpan? limit, Func<CancellationToken, Task<T>> replay, Func<ReplayStuckException> stuck,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replay);
        ArgumentNullException.ThrowIfNull(stuck);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (limit is { } bound)
        {
            deadline.CancelAfter(bound);
        }

        try
        {
            return await replay(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw stuck();
        }
    }
}
