using QemuTestKit.Introspection;

namespace QemuTestKit.Fixtures;

/// <summary>A fixture cannot give the test what it asked for; the message says what is wrong and how to fix it.</summary>
public sealed class FixtureException : QemuTestKitException
{
    public FixtureException(string message, Exception? inner = null) : base(message, inner) { }
}
