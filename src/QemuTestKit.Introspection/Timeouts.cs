namespace QemuTestKit.Introspection;

/// <summary>Combines a caller's token with a timeout, the shape of every wait in this product.</summary>
public static class Timeouts
{
    public static CancellationTokenSource Link(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            linked.CancelAfter(timeout);
        }

        return linked;
    }
}
