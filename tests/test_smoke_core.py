import numpy as np

import xpnet


def test_multilayer_trains_on_digits(backend_name, digits):
    net = xpnet.MultiLayerNetExtend(64, [64, 32], 10, use_batchnorm=True, backend=backend_name,
                                    random_state=0)
    trainer = xpnet.Trainer(net, digits.x_train, digits.y_train, digits.x_test, digits.y_test,
                            epochs=10, mini_batch_size=64, optimizer="adam",
                            optimizer_param={"lr": 0.01}, verbose=False)
    trainer.train()
    assert len(trainer.test_acc_list) == 10
    assert trainer.test_acc_list[-1] >= 0.95
    assert isinstance(net.accuracy(digits.x_test, digits.y_test), float)
    assert isinstance(net.predict(digits.x_test[:5]), np.ndarray)
