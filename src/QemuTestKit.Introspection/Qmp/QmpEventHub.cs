using System.Threading.Channels;

namespace QemuTestKit.Introspection.Qmp;

/// <summary>Fans events out to listeners and keeps a short history for waiters that subscribe late.</summary>
internal sealed class QmpEventHub
{
    private readonly object _gate = new();
    private readonly Queue<QmpEvent> _history = new();
    private readonly List<QmpEventListener> _listeners = [];
    private readonly int _historySize;
    private readonly TimeSpan _historyWindow;
    private long _sequence;
    private bool _completed;

    public QmpEventHub(int historySize, TimeSpan historyWindow)
    {
        _historySize = Math.Max(0, historySize);
        _historyWindow = historyWindow;
    }

    public long LastSequence => Interlocked.Read(ref _sequence);

    public void Publish(QmpEvent received)
    {
        lock (_gate)
        {
            var stamped = received with { Sequence = ++_sequence, ReceivedAt = DateTimeOffset.UtcNow };
            _history.Enqueue(stamped);
            while (_history.Count > _historySize)
            {
                _history.Dequeue();
            }

            foreach (var listener in _listeners)
            {
                listener.Offer(stamped);
            }
        }
    }

    public IReadOnlyList<QmpEvent> Recent()
    {
        lock (_gate)
        {
            return _history.ToArray();
        }
    }

    public QmpEventListener Listen(Func<QmpEvent, bool> filter, bool includeHistory, Func<QmpException?> failure)
    {
        lock (_gate)
        {
            var listener = new QmpEventListener(filter, failure, Remove);
            if (includeHistory)
            {
                var oldest = DateTimeOffset.UtcNow - _historyWindow;
                foreach (var e in _history.Where(e => e.ReceivedAt >= oldest))
                {
                    listener.Offer(e);
                }
            }

            if (_completed)
            {
                // The connection is gone: history already offered stays readable, then the listener reports the
                // disconnect instead of waiting out its timeout for events that can no longer come.
                listener.Complete();
            }
            else
            {
                _listeners.Add(listener);
            }

            return listener;
        }
    }

    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            foreach (var listener in _listeners)
            {
                listener.Complete();
            }

            _listeners.Clear();
        }
    }

    private void Remove(QmpEventListener listener)
    {
        lock (_gate)
        {
            _listeners.Remove(listener);
        }
    }
}

/// <summary>A subscription to QMP events; dispose it to stop receiving.</summary>
public sealed class QmpEventListener : IDisposable
{
    private readonly Channel<QmpEvent> _channel = Channel.CreateUnbounded<QmpEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<QmpEvent, bool> _filter;
    private readonly Func<QmpException?> _failure;
    private readonly Action<QmpEventListener> _remove;

    internal QmpEventListener(Func<QmpEvent, bool> filter, Func<QmpException?> failure, Action<QmpEventListener> remove)
    {
        _filter = filter;
        _failure = failure;
        _remove = remove;
    }

    /// <summary>Waits for the next matching event.</summary>
    /// <exception cref="QmpTimeoutException">None arrived in time.</exception>
    /// <exception cref="QmpDisconnectedException">The connection closed first.</exception>
    public async Task<QmpEvent> ReadAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var linked = Timeouts.Link(timeout, cancellationToken);
        try
        {
            if (await _channel.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false) && _channel.Reader.TryRead(out var e))
            {
                return e;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new QmpTimeoutException("waiting for a QMP event", timeout);
        }

        throw _failure() ?? new QmpDisconnectedException("the QMP connection closed while waiting for an event");
    }

    /// <summary>Matching events as they arrive, until the connection closes or the token fires.</summary>
    public IAsyncEnumerable<QmpEvent> ReadAllAsync(CancellationToken cancellationToken = default) => _channel.Reader.ReadAllAsync(cancellationToken);

    internal void Offer(QmpEvent e)
    {
        bool wanted;
        try
        {
            wanted = _filter(e);
        }
#pragma warning disable CA1031 // A caller's filter that throws fails that caller's wait, not the connection every other caller shares.
        catch (Exception failure)
#pragma warning restore CA1031
        {
            _channel.Writer.TryComplete(failure);
            return;
        }

        if (wanted)
        {
            _channel.Writer.TryWrite(e);
        }
    }

    internal void Complete()
    {
        // Matching events already queued stay readable; only the wait for new ones ends.
        _channel.Writer.TryComplete();
    }

    public void Dispose()
    {
        _remove(this);
        _channel.Writer.TryComplete();
    }
}
